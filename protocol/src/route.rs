//! Every route of the API: method, path, the scope it needs, its metric label and its
//! answer family. The sidecar's router, `openapi.json` and `docs/API.md` are checked
//! against [`ROUTES`].

use crate::Scope;

/// Which answer shape a route uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Family {
    /// `/v1/...`: `{"data": ...}` and `{"error": {"code", "message"}}`.
    V1,
    /// Cronium's older routes (`/executions/{id}/...`, `/tool-actions/execute`):
    /// `{"success": true, "data": ...}` and `{"error": "<status text>", "message", "code"}`.
    Compat,
    /// Operations (`/health`, `/ready`, `/metrics`, `/openapi.json`): no token needed.
    Ops,
}

impl Family {
    /// Lowercase name, as docs and tests spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V1 => "v1",
            Family::Compat => "compat",
            Family::Ops => "ops",
        }
    }
}

/// One method on one path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Route {
    /// HTTP method, uppercase.
    pub method: &'static str,
    /// Path in OpenAPI template form (`/v1/variables/{key}`).
    pub path: &'static str,
    /// The scope the token needs; `None` for routes that need none (ops routes need no
    /// token at all, token refresh any valid token).
    pub scope: Option<Scope>,
    /// Label of the route in the sidecar's metrics (one per path, shared by its
    /// methods); a fixed set, whatever paths arrive.
    pub name: &'static str,
    /// Answer shape.
    pub family: Family,
    /// `operationId` in `openapi.json`, the name conformance cases use.
    pub operation: &'static str,
}

/// Metric label of requests that match no route.
pub const UNKNOWN_ROUTE_NAME: &str = "unknown";

const fn route(
    method: &'static str,
    path: &'static str,
    scope: Option<Scope>,
    name: &'static str,
    family: Family,
    operation: &'static str,
) -> Route {
    Route {
        method,
        path,
        scope,
        name,
        family,
        operation,
    }
}

use Family::{Compat, Ops, V1};
use Scope::{ConditionWrite, InputRead, OutputWrite, ToolsExecute, VariablesRead, VariablesWrite};

/// Every route, grouped by path; the methods of one path in the order of its `Allow`
/// header.
pub const ROUTES: &[Route] = &[
    route("GET", "/v1/input", Some(InputRead), "input", V1, "getInput"),
    route(
        "GET",
        "/v1/input/stream",
        Some(InputRead),
        "input_stream",
        V1,
        "streamInput",
    ),
    route(
        "GET",
        "/v1/output",
        Some(OutputWrite),
        "output",
        V1,
        "getOutput",
    ),
    route(
        "PUT",
        "/v1/output",
        Some(OutputWrite),
        "output",
        V1,
        "setOutput",
    ),
    route(
        "POST",
        "/v1/output/stream",
        Some(OutputWrite),
        "output_stream",
        V1,
        "streamOutput",
    ),
    route(
        "GET",
        "/v1/variables",
        Some(VariablesRead),
        "variables",
        V1,
        "listVariables",
    ),
    route(
        "GET",
        "/v1/variables/{key}",
        Some(VariablesRead),
        "variable",
        V1,
        "getVariable",
    ),
    route(
        "PUT",
        "/v1/variables/{key}",
        Some(VariablesWrite),
        "variable",
        V1,
        "setVariable",
    ),
    route(
        "DELETE",
        "/v1/variables/{key}",
        Some(VariablesWrite),
        "variable",
        V1,
        "deleteVariable",
    ),
    route(
        "GET",
        "/v1/variables/{key}/watch",
        Some(VariablesRead),
        "variable_watch",
        V1,
        "watchVariable",
    ),
    route(
        "GET",
        "/v1/condition",
        Some(ConditionWrite),
        "condition",
        V1,
        "getCondition",
    ),
    route(
        "PUT",
        "/v1/condition",
        Some(ConditionWrite),
        "condition",
        V1,
        "setCondition",
    ),
    route(
        "GET",
        "/v1/context",
        Some(InputRead),
        "context",
        V1,
        "getContext",
    ),
    route(
        "POST",
        "/v1/token/refresh",
        None,
        "token_refresh",
        V1,
        "refreshToken",
    ),
    route(
        "POST",
        "/v1/tool-actions/execute",
        Some(ToolsExecute),
        "tool_actions",
        V1,
        "executeToolAction",
    ),
    route(
        "GET",
        "/v1/tools",
        Some(ToolsExecute),
        "tools",
        V1,
        "listTools",
    ),
    route("GET", "/health", None, "health", Ops, "health"),
    route("GET", "/ready", None, "ready", Ops, "ready"),
    route("GET", "/metrics", None, "metrics", Ops, "metrics"),
    route("GET", "/openapi.json", None, "openapi", Ops, "openapi"),
    route(
        "GET",
        "/executions/{id}/input",
        Some(InputRead),
        "compat_input",
        Compat,
        "compatGetInput",
    ),
    route(
        "POST",
        "/executions/{id}/output",
        Some(OutputWrite),
        "compat_output",
        Compat,
        "compatSetOutput",
    ),
    route(
        "GET",
        "/executions/{id}/variables/{key}",
        Some(VariablesRead),
        "compat_variable",
        Compat,
        "compatGetVariable",
    ),
    route(
        "PUT",
        "/executions/{id}/variables/{key}",
        Some(VariablesWrite),
        "compat_variable",
        Compat,
        "compatSetVariable",
    ),
    route(
        "POST",
        "/executions/{id}/condition",
        Some(ConditionWrite),
        "compat_condition",
        Compat,
        "compatSetCondition",
    ),
    route(
        "GET",
        "/executions/{id}/context",
        Some(InputRead),
        "compat_context",
        Compat,
        "compatGetContext",
    ),
    route(
        "POST",
        "/tool-actions/execute",
        Some(ToolsExecute),
        "compat_tool_actions",
        Compat,
        "compatExecuteToolAction",
    ),
];

/// Every route of the admin API: the orchestrator's interface, served on its own listener
/// (never the script socket) and authenticated with the admin credential, never an
/// execution token. Same envelope and error shape as [`Family::V1`]; no scopes. Every path
/// starts with [`ADMIN_PREFIX`].
pub const ADMIN_ROUTES: &[Route] = &[
    route(
        "GET",
        "/admin/v1/executions",
        None,
        "admin_executions",
        V1,
        "adminListExecutions",
    ),
    route(
        "POST",
        "/admin/v1/executions",
        None,
        "admin_executions",
        V1,
        "adminCreateExecution",
    ),
    route(
        "GET",
        "/admin/v1/executions/{id}",
        None,
        "admin_execution",
        V1,
        "adminShowExecution",
    ),
    route(
        "POST",
        "/admin/v1/executions/{id}/token",
        None,
        "admin_token",
        V1,
        "adminMintToken",
    ),
    route(
        "POST",
        "/admin/v1/executions/{id}/finish",
        None,
        "admin_finish",
        V1,
        "adminFinishExecution",
    ),
    route(
        "GET",
        "/admin/v1/executions/{id}/output/stream",
        None,
        "admin_output_stream",
        V1,
        "adminReadOutputStream",
    ),
    route(
        "GET",
        "/admin/v1/users/{user}/variables",
        None,
        "admin_variables",
        V1,
        "adminListVariables",
    ),
    route(
        "GET",
        "/admin/v1/users/{user}/variables/{key}",
        None,
        "admin_variable",
        V1,
        "adminGetVariable",
    ),
    route(
        "PUT",
        "/admin/v1/users/{user}/variables/{key}",
        None,
        "admin_variable",
        V1,
        "adminSetVariable",
    ),
    route(
        "DELETE",
        "/admin/v1/users/{user}/variables/{key}",
        None,
        "admin_variable",
        V1,
        "adminDeleteVariable",
    ),
];

/// The path prefix of every admin route.
pub const ADMIN_PREFIX: &str = "/admin/";

impl Route {
    /// The admin route for a method and a path template.
    pub fn find_admin(method: &str, path: &str) -> Option<&'static Route> {
        ADMIN_ROUTES
            .iter()
            .find(|r| r.method == method && r.path == path)
    }

    /// The `Allow` header of an admin path template.
    pub fn allow_admin(path: &str) -> String {
        let methods: Vec<&str> = ADMIN_ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method)
            .collect();
        methods.join(", ")
    }
}

impl Route {
    /// The route for a method and a path template.
    pub fn find(method: &str, path: &str) -> Option<&'static Route> {
        ROUTES.iter().find(|r| r.method == method && r.path == path)
    }

    /// The route a client calls by its operation name.
    pub fn by_operation(operation: &str) -> Option<&'static Route> {
        ROUTES.iter().find(|r| r.operation == operation)
    }

    /// The `Allow` header of a path template: its methods, comma-separated.
    pub fn allow(path: &str) -> String {
        let methods: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method)
            .collect();
        methods.join(", ")
    }

    /// Whether a request path (decoded segments) fits this route's template; a `{name}`
    /// segment matches any one non-empty segment.
    pub fn matches(&self, path: &str) -> bool {
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                    if g.is_empty() {
                        return false;
                    }
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn routes_are_unique_and_consistent() {
        let mut seen = HashSet::new();
        let mut operations = HashSet::new();
        let mut name_of_path = HashMap::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            assert!(operations.insert(r.operation), "{} twice", r.operation);
            // One metric label per path.
            let name = *name_of_path.entry(r.path).or_insert(r.name);
            assert_eq!(name, r.name, "{}", r.path);
            assert_eq!(
                r.family == Family::Ops,
                r.scope.is_none() && r.path != "/v1/token/refresh"
            );
            assert_eq!(
                r.family == Family::Compat,
                r.name.starts_with("compat_"),
                "{}",
                r.path
            );
        }
        // Every scope guards at least one route.
        for scope in Scope::ALL {
            assert!(ROUTES.iter().any(|r| r.scope == Some(scope)), "{scope}");
        }
    }

    #[test]
    fn admin_routes_are_apart_from_the_script_api() {
        let mut seen = HashSet::new();
        for r in ADMIN_ROUTES {
            assert!(r.path.starts_with(ADMIN_PREFIX), "{}", r.path);
            assert!(r.scope.is_none(), "{}: admin routes take no scope", r.path);
            assert!(r.operation.starts_with("admin"), "{}", r.operation);
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            assert!(!ROUTES.iter().any(|s| s.operation == r.operation));
        }
        assert!(!ROUTES.iter().any(|r| r.path.starts_with(ADMIN_PREFIX)));
        assert_eq!(
            Route::allow_admin("/admin/v1/users/{user}/variables/{key}"),
            "GET, PUT, DELETE"
        );
        assert!(Route::find_admin("POST", "/admin/v1/executions/{id}/finish").is_some());
    }

    #[test]
    fn allow_and_match() {
        assert_eq!(Route::allow("/v1/variables/{key}"), "GET, PUT, DELETE");
        assert_eq!(Route::allow("/v1/output"), "GET, PUT");
        assert_eq!(Route::allow("/executions/{id}/variables/{key}"), "GET, PUT");
        let r = Route::find("GET", "/v1/variables/{key}/watch").expect("route");
        assert!(r.matches("/v1/variables/a.b/watch"));
        assert!(!r.matches("/v1/variables//watch"));
        assert!(!r.matches("/v1/variables/a/watch/x"));
        assert_eq!(
            Route::by_operation("getVariable").map(|r| r.method),
            Some("GET")
        );
    }
}
