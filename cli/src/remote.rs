//! The execution, token and variable commands through a sidecar's admin API. Each command
//! checks its arguments as on the store (nothing is sent when one is wrong), calls one
//! route, and prints with [`crate::render`].

use std::io::{BufRead, Write};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::admin_client::{seg, AdminClient};
use crate::render::{self, CreatedJson, ListRow};
use crate::{
    config, json_arg, parse_scopes, read_input_arg, CliError, Command, ExecutionsCmd, TokenCmd,
    VariablesCmd,
};

fn w(r: std::io::Result<()>) -> Result<(), CliError> {
    r.map_err(|e| CliError::failed(format!("cannot write: {e}")))
}

fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, CliError> {
    serde_json::from_str(raw.get())
        .map_err(|e| CliError::failed(format!("the admin API's answer has another shape: {e}")))
}

fn body(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Runs an execution, token or variable command through `client`.
pub fn run(client: &AdminClient, cmd: Command) -> Result<(), CliError> {
    let out = &mut std::io::stdout().lock();
    match cmd {
        Command::Executions { cmd, .. } => executions(client, out, cmd),
        Command::Token {
            cmd:
                TokenCmd::Mint {
                    execution,
                    ttl,
                    scope,
                },
            ..
        } => {
            let mut spec = serde_json::Map::new();
            if let Some(t) = ttl {
                config::parse_duration(&t)?;
                spec.insert("ttl".into(), t.into());
            }
            if parse_scopes(&scope)?.is_some() {
                spec.insert("scopes".into(), scope.into());
            }
            #[derive(Deserialize)]
            struct Token {
                token: String,
            }
            let t: Token = parse(&client.data(
                "POST",
                &format!("/admin/v1/executions/{}/token", seg(&execution)),
                Some(&body(&spec.into())),
            )?)?;
            w(writeln!(out, "{}", t.token))
        }
        Command::Variables { cmd, .. } => variables(client, out, cmd),
        _ => unreachable!("only execution, token and variable commands act remotely"),
    }
}

fn executions(
    client: &AdminClient,
    out: &mut impl Write,
    cmd: ExecutionsCmd,
) -> Result<(), CliError> {
    match cmd {
        ExecutionsCmd::Create(a) => {
            parse_scopes(&a.scope)?;
            config::parse_duration(&a.ttl)?;
            let raw = |text: String| {
                RawValue::from_string(text).map_err(|e| CliError::usage(e.to_string()))
            };
            let input = a.input.as_deref().map(read_input_arg).transpose()?;
            let context = match a.context.as_deref() {
                Some(c) => {
                    let c = json_arg("--context", c)?;
                    if !c.starts_with('{') {
                        return Err(CliError::usage("--context must be a JSON object"));
                    }
                    Some(raw(c)?)
                }
                None => None,
            };
            let stream = a.input_stream.as_deref().map(read_stream).transpose()?;
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Spec<'a> {
                #[serde(skip_serializing_if = "Option::is_none")]
                id: Option<&'a str>,
                user: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                event: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                event_id: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                event_type: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                job_id: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                trigger: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                workflow_step: Option<&'a str>,
                attempt: u32,
                #[serde(skip_serializing_if = "Option::is_none")]
                input: Option<Box<RawValue>>,
                #[serde(skip_serializing_if = "Option::is_none")]
                context: Option<Box<RawValue>>,
                #[serde(skip_serializing_if = "Option::is_none")]
                input_stream: Option<Vec<Box<RawValue>>>,
                lifetime: &'a str,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                scopes: &'a Vec<String>,
            }
            let spec = Spec {
                id: a.id.as_deref(),
                user: &a.user,
                event: a.event.as_deref(),
                event_id: a.event_id.as_deref(),
                event_type: a.event_type.as_deref(),
                job_id: a.job_id.as_deref(),
                trigger: a.trigger.as_deref(),
                workflow_step: a.workflow_step.as_deref(),
                attempt: a.attempt,
                input: input.map(raw).transpose()?,
                context,
                input_stream: stream,
                lifetime: &a.ttl,
                scopes: &a.scope,
            };
            let spec = serde_json::to_vec(&spec).map_err(|e| CliError::failed(e.to_string()))?;
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Created {
                id: String,
                token: String,
                user_id: String,
                event_id: String,
                execution_expires_at: i64,
            }
            let c: Created = parse(&client.data("POST", "/admin/v1/executions", Some(&spec))?)?;
            w(render::created(
                out,
                &CreatedJson {
                    id: &c.id,
                    token: &c.token,
                    user_id: &c.user_id,
                    event_id: &c.event_id,
                    expires_at: c.execution_expires_at,
                },
                a.json,
            ))
        }
        ExecutionsCmd::Show { id, json } => {
            let doc = client.data("GET", &format!("/admin/v1/executions/{}", seg(&id)), None)?;
            render::show(out, doc.get(), json)
        }
        ExecutionsCmd::List { limit, json } => {
            #[derive(Deserialize)]
            struct Page {
                items: Vec<ListRow>,
            }
            let page: Page = parse(&client.data(
                "GET",
                &format!("/admin/v1/executions?limit={}", limit.clamp(1, 1000)),
                None,
            )?)?;
            w(render::list(out, &page.items, json))
        }
        ExecutionsCmd::Finish {
            id,
            status,
            exit_code,
            json,
        } => {
            let spec = serde_json::json!({"status": status, "exitCode": exit_code});
            let path = format!("/admin/v1/executions/{}/finish", seg(&id));
            // An unknown id is the caller's mistake here (exit 2), as on the store.
            let answer = client
                .call("POST", &path, Some(&body(&spec)))?
                .map_err(|e| {
                    let unknown = e.code == "execution_not_found";
                    let mut err = e.into_cli();
                    if unknown {
                        err.code = 2;
                    }
                    err
                })?;
            #[derive(Deserialize)]
            struct Envelope<'a> {
                #[serde(borrow)]
                data: cronium_server::admin_api::FinishDoc<'a>,
            }
            let doc: Envelope<'_> = serde_json::from_slice(&answer).map_err(|e| {
                CliError::failed(format!("the admin API's answer has another shape: {e}"))
            })?;
            w(render::finished(out, &doc.data, json))
        }
        ExecutionsCmd::OutputStream { id } => {
            let path = format!("/admin/v1/executions/{}/output/stream", seg(&id));
            let ndjson = client.call("GET", &path, None)?.map_err(|e| e.into_cli())?;
            w(out.write_all(&ndjson))
        }
    }
}

/// An NDJSON file as records, each checked (nothing is sent when one is not JSON).
fn read_stream(path: &std::path::Path) -> Result<Vec<Box<RawValue>>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::usage(format!(
            "cannot read the input stream {}: {e}",
            path.display()
        ))
    })?;
    let mut records = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| {
            CliError::usage(format!(
                "cannot read the input stream {}: {e}",
                path.display()
            ))
        })?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let compact = json_arg(&format!("line {} of {}", i + 1, path.display()), line)?;
        records.push(RawValue::from_string(compact).map_err(|e| CliError::usage(e.to_string()))?);
    }
    Ok(records)
}

fn variables(
    client: &AdminClient,
    out: &mut impl Write,
    cmd: VariablesCmd,
) -> Result<(), CliError> {
    let var =
        |user: &str, key: &str| format!("/admin/v1/users/{}/variables/{}", seg(user), seg(key));
    let check_key = |key: &str| {
        cronium_protocol::validate_key(key)
            .map_err(|_| CliError::usage(format!("{key:?}: {}", cronium_protocol::key::KEY_RULE)))
    };
    match cmd {
        VariablesCmd::List { user } => {
            #[derive(Deserialize)]
            struct Keys {
                keys: Vec<String>,
            }
            let k: Keys = parse(&client.data(
                "GET",
                &format!("/admin/v1/users/{}/variables", seg(&user)),
                None,
            )?)?;
            w(render::keys(out, &k.keys))
        }
        VariablesCmd::Get { user, key } => {
            check_key(&key)?;
            #[derive(Deserialize)]
            struct Value {
                value: Box<RawValue>,
            }
            let v: Value = parse(&client.data("GET", &var(&user, &key), None)?)?;
            w(writeln!(out, "{}", v.value.get()))
        }
        VariablesCmd::Set { user, key, value } => {
            check_key(&key)?;
            let value = json_arg("the value", &value)?;
            let spec = format!("{{\"value\":{value}}}");
            #[derive(Deserialize)]
            struct Set {
                version: u64,
            }
            let s: Set = parse(&client.data("PUT", &var(&user, &key), Some(spec.as_bytes()))?)?;
            w(render::set(out, &key, &value, s.version))
        }
        VariablesCmd::Delete { user, key } => {
            check_key(&key)?;
            #[derive(Deserialize)]
            struct Deleted {
                deleted: bool,
            }
            let d: Deleted = parse(&client.data("DELETE", &var(&user, &key), None)?)?;
            w(render::deleted(out, d.deleted))
        }
    }
}
