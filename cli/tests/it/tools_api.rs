//! The REST-API tools (Teams, Notion, Trello, Google Sheets) against real local receivers
//! that answer like the real APIs (their success and error shapes, Google's 401 for an
//! expired access token): the exact upstream request of every action, the Google token
//! exchange (refresh token and service account), its caching and refresh, params checked
//! against the registry's schemas, 4xx never retried, 5xx retried with one delivery,
//! idempotency across a restart, and no credential field ever leaking.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;
use crate::receivers::*;

const FAST: &[(&str, &str)] = &[("CRONIUM_TOOLS_RETRY_BACKOFF", "10ms")];
const SA_KEY: &str = include_str!("../fixtures/google-sa-test-key.pem");
const SA_PUB: &str = include_str!("../fixtures/google-sa-test-key.pub.pem");

fn add(s: &Sidecar, user: &str, tool: &str, name: &str, cfg: &Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cfg.json");
    std::fs::write(&file, cfg.to_string()).expect("write cfg");
    let out = cronium()
        .arg("--state-dir")
        .arg(&s.dir)
        .args([
            "tools", "add", "--user", user, "--tool", tool, "--name", name,
        ])
        .arg("--config")
        .arg(format!("@{}", file.display()))
        .output()
        .expect("run tools add");
    assert!(
        out.status.success(),
        "tools add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn call(s: &Sidecar, token: &str, body: &Value, key: Option<&str>) -> Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    s.request(
        "POST",
        "/v1/tool-actions/execute",
        &headers,
        Some(body.to_string().as_bytes()),
    )
}

fn act(tool: &str, action: &str, params: Value) -> Value {
    json!({"tool": tool, "action": action, "params": params})
}

fn body_json(r: &Recorded) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// Answers like Trello: ids for new cards/checklists/items, 404 text for unknown paths.
fn trello() -> HttpReceiver {
    let n = Arc::new(AtomicUsize::new(0));
    HttpReceiver::api(move |r| {
        let path = r.target.split('?').next().unwrap_or_default().to_owned();
        let i = n.fetch_add(1, Ordering::SeqCst);
        match (r.method.as_str(), path.as_str()) {
            ("POST", "/1/cards") => (
                200,
                json!({"id": "card1", "url": "https://trello.com/c/abc/1-x", "name": body_json(r)["name"]}).to_string(),
            ),
            ("PUT", p) if p.starts_with("/1/cards/") => (200, json!({"id": "card1", "idList": body_json(r)["idList"]}).to_string()),
            ("POST", "/1/checklists") => (200, json!({"id": "cl1", "name": body_json(r)["name"]}).to_string()),
            ("POST", "/1/checklists/cl1/checkItems") => (200, json!({"id": format!("item{i}")}).to_string()),
            _ => (404, "The requested resource was not found.".into()),
        }
    })
}

/// Answers like Notion (its error shape for unknown paths), also under a gateway's `/gw`.
fn notion() -> HttpReceiver {
    HttpReceiver::api(|r| {
        let path = r.target.split('?').next().unwrap_or_default();
        let path = path.strip_prefix("/gw").unwrap_or(path).to_owned();
        match (r.method.as_str(), path.as_str()) {
            ("POST", "/v1/pages") => (200, json!({"object": "page", "id": "page1", "url": "https://www.notion.so/page1"}).to_string()),
            ("PATCH", "/v1/blocks/page1/children") => (200, json!({"object": "list", "results": [{"id": "b1", "type": "paragraph"}]}).to_string()),
            ("PATCH", "/v1/blocks/b1") | ("DELETE", "/v1/blocks/b1") => (200, json!({"object": "block", "id": "b1"}).to_string()),
            ("GET", "/v1/blocks/b1/children") => (200, json!({"object": "list", "results": [{"id": "c1"}], "has_more": false}).to_string()),
            ("POST", "/v1/search") => (200, json!({"object": "list", "has_more": false, "next_cursor": null, "results": [
                {"object": "page", "id": "p9", "url": "https://www.notion.so/p9", "last_edited_time": "2026-01-02T03:04:05.000Z",
                 "parent": {"type": "database_id", "database_id": "db1"},
                 "properties": {"Name": {"type": "title", "title": [{"plain_text": "Roadmap"}]}}},
                {"object": "database", "id": "db1", "url": "https://www.notion.so/db1", "last_edited_time": "2026-01-01T00:00:00.000Z",
                 "parent": {"type": "workspace", "workspace": true}, "title": [{"plain_text": "Tasks"}]}
            ]}).to_string()),
            ("PATCH", "/v1/pages/pg1") => (200, json!({"object": "page", "id": "pg1", "last_edited_time": "2026-02-03T04:05:00.000Z"}).to_string()),
            ("POST", "/v1/databases/db1/query") => (200, json!({"object": "list", "results": [{"id": "row1"}], "has_more": true, "next_cursor": "cur2"}).to_string()),
            _ => (404, json!({"object": "error", "status": 404, "code": "object_not_found", "message": "Could not find block."}).to_string()),
        }
    })
}

fn path_of(r: &Recorded) -> &str {
    r.target.split('?').next().unwrap_or_default()
}

#[test]
fn teams_trello_and_notion_send_exact_requests() {
    let teams = HttpReceiver::start(Reply::Status(200, "1"));
    let trello = trello();
    let notion = notion();
    let (tu, nu) = (trello.url(""), notion.url("/gw"));
    let mut env = FAST.to_vec();
    env.extend([
        ("CRONIUM_TOOLS_RATE_LIMIT", "0"),
        ("CRONIUM_TOOLS_TRELLO_URL", tu.as_str()),
        ("CRONIUM_TOOLS_NOTION_URL", nu.as_str()),
    ]);
    let s = Sidecar::start_with(&env);
    add(
        &s,
        "u1",
        "teams",
        "default",
        &json!({"webhookUrl": teams.url("/webhookb2/teams-secret-0123456789")}),
    );
    add(
        &s,
        "u1",
        "trello",
        "default",
        &json!({"apiKey": "trellokey0123", "apiToken": "trellotoken0123"}),
    );
    add(
        &s,
        "u1",
        "notion",
        "default",
        &json!({"apiKey": "secret_notion0123", "workspaceId": "ws"}),
    );
    let e = s.create(&["--user", "u1"]);
    let ok = |body: Value| {
        let r = call(&s, &e.token, &body, None);
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        r.json()["data"].clone()
    };

    // Teams: a MessageCard, then an Adaptive Card.
    let d = ok(act(
        "teams",
        "send-message",
        json!({"message": "Build 7 passed", "title": "CI",
        "sections": [{"activityTitle": "pipeline", "facts": [{"name": "took", "value": "3m"}]}]}),
    ));
    assert_eq!(
        (d["tool"].as_str(), d["status"].as_u64(), d["body"].as_str()),
        (Some("teams"), Some(200), Some("1"))
    );
    let r = &teams.wait_for(1)[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/webhookb2/teams-secret-0123456789")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        body_json(r),
        json!({"@type": "MessageCard", "@context": "https://schema.org/extensions",
        "themeColor": "0078D4", "summary": "CI", "title": "CI",
        "sections": [{"text": "Build 7 passed"}, {"activityTitle": "pipeline", "facts": [{"name": "took", "value": "3m"}]}]})
    );
    ok(act(
        "teams",
        "send-card",
        json!({"card": {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "hi"}]}, "fallbackText": "hi"}),
    ));
    assert_eq!(
        body_json(&teams.wait_for(2)[1]),
        json!({"type": "message", "text": "hi", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
        "content": {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "hi"}],
                    "version": "1.4", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json"}}]})
    );

    // Trello: key and token as query params, Cronium's bodies.
    let d = ok(act(
        "trello",
        "create-card",
        json!({"listId": "list1", "name": "Fix login", "desc": "d",
        "idMembers": ["m1", "m2"], "due": "2026-01-31T17:00:00Z"}),
    ));
    assert_eq!(
        (d["cardId"].as_str(), d["url"].as_str()),
        (Some("card1"), Some("https://trello.com/c/abc/1-x"))
    );
    let r = &trello.wait_for(1)[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/1/cards?key=trellokey0123&token=trellotoken0123")
    );
    assert_eq!(
        body_json(r),
        json!({"idList": "list1", "name": "Fix login", "pos": "bottom", "desc": "d",
        "due": "2026-01-31T17:00:00Z", "dueComplete": false, "idMembers": "m1,m2"})
    );
    ok(act(
        "trello",
        "move-card",
        json!({"cardId": "card1", "destinationListId": "done", "pos": "top"}),
    ));
    let r = &trello.wait_for(2)[1];
    assert_eq!((r.method.as_str(), path_of(r)), ("PUT", "/1/cards/card1"));
    assert_eq!(body_json(r), json!({"idList": "done", "pos": "top"}));
    let d = ok(act(
        "trello",
        "add-checklist",
        json!({"cardId": "card1", "name": "Release",
        "checkItems": [{"name": "tag"}, {"name": "announce", "checked": true, "pos": "top"}]}),
    ));
    let got = trello.wait_for(5);
    assert_eq!(
        (got[2].method.as_str(), path_of(&got[2])),
        ("POST", "/1/checklists")
    );
    assert_eq!(
        body_json(&got[2]),
        json!({"idCard": "card1", "name": "Release", "pos": "bottom"})
    );
    assert_eq!(
        got[3].target,
        "/1/checklists/cl1/checkItems?key=trellokey0123&token=trellotoken0123"
    );
    assert_eq!(body_json(&got[3]), json!({"name": "tag", "checked": false}));
    assert_eq!(
        body_json(&got[4]),
        json!({"name": "announce", "checked": true, "pos": "top"})
    );
    assert_eq!(d["checklistId"], "cl1");
    assert_eq!(d["checkItemIds"], json!(["item3", "item4"]));
    assert_eq!(d["attempts"], 3, "one attempt per request");

    // Notion: under the configured base path, bearer token and version header.
    let d = ok(act(
        "notion",
        "create-page",
        json!({"parentId": "parent1", "title": "Notes",
        "children": [{"type": "to_do", "content": "ship"}, {"type": "divider"}]}),
    ));
    assert_eq!(
        (d["pageId"].as_str(), d["url"].as_str()),
        (Some("page1"), Some("https://www.notion.so/page1"))
    );
    let r = &notion.wait_for(1)[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/gw/v1/pages")
    );
    assert_eq!(r.header("authorization"), Some("Bearer secret_notion0123"));
    assert_eq!(r.header("notion-version"), Some("2022-06-28"));
    assert_eq!(
        body_json(r),
        json!({"parent": {"type": "page_id", "page_id": "parent1"},
        "properties": {"title": {"title": [{"text": {"content": "Notes"}}]}},
        "children": [
            {"object": "block", "type": "to_do", "to_do": {"rich_text": [{"type": "text", "text": {"content": "ship"}}], "checked": false}},
            {"object": "block", "type": "divider", "divider": {}}]})
    );
    // manage-blocks: its four operations.
    let d = ok(act(
        "notion",
        "manage-blocks",
        json!({"operation": "append", "pageId": "page1",
        "blocks": [{"type": "paragraph", "content": "hello", "color": "blue"}], "after": "b0"}),
    ));
    assert_eq!(d["blocks"], json!([{"id": "b1", "type": "paragraph"}]));
    ok(act(
        "notion",
        "manage-blocks",
        json!({"operation": "update", "blockId": "b1", "blocks": [{"type": "heading_1", "content": "H"}]}),
    ));
    ok(act(
        "notion",
        "manage-blocks",
        json!({"operation": "delete", "blockId": "b1"}),
    ));
    let d = ok(act(
        "notion",
        "manage-blocks",
        json!({"operation": "retrieve", "blockId": "b1"}),
    ));
    assert_eq!(d["blocks"], json!([{"id": "c1"}]));
    let got = notion.wait_for(5);
    let lines: Vec<(String, String)> = got[1..5]
        .iter()
        .map(|r| (r.method.clone(), r.target.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                "PATCH".to_owned(),
                "/gw/v1/blocks/page1/children".to_owned()
            ),
            ("PATCH".into(), "/gw/v1/blocks/b1".into()),
            ("DELETE".into(), "/gw/v1/blocks/b1".into()),
            (
                "GET".into(),
                "/gw/v1/blocks/b1/children?page_size=100".into()
            ),
        ]
    );
    assert_eq!(
        body_json(&got[1]),
        json!({"after": "b0", "children": [{"object": "block", "type": "paragraph",
        "paragraph": {"rich_text": [{"type": "text", "text": {"content": "hello"}}], "color": "blue"}}]})
    );
    assert_eq!(
        body_json(&got[2]),
        json!({"object": "block", "type": "heading_1",
        "heading_1": {"rich_text": [{"type": "text", "text": {"content": "H"}}]}})
    );
    assert!(got[3].body.is_empty() && got[4].body.is_empty());
    assert_eq!(got[4].header("notion-version"), Some("2022-06-28"));
    // search-content: Cronium's result shape.
    let d = ok(act(
        "notion",
        "search-content",
        json!({"query": "road", "filter": {"property": "page"},
        "sort": {"direction": "descending", "timestamp": "last_edited_time"}, "pageSize": 5}),
    ));
    assert_eq!(
        body_json(&notion.wait_for(6)[5]),
        json!({"query": "road", "page_size": 5,
        "filter": {"property": "object", "value": "page"},
        "sort": {"direction": "descending", "timestamp": "last_edited_time"}})
    );
    assert_eq!(
        d["results"],
        json!([
        {"id": "p9", "type": "page", "title": "Roadmap", "url": "https://www.notion.so/p9",
         "lastEditedTime": "2026-01-02T03:04:05.000Z", "parentId": "db1", "parentType": "database_id"},
        {"id": "db1", "type": "database", "title": "Tasks", "url": "https://www.notion.so/db1",
         "lastEditedTime": "2026-01-01T00:00:00.000Z", "parentId": null, "parentType": "workspace"}])
    );
    assert_eq!(d["hasMore"], false);
    // update-database: update an entry, then query.
    let d = ok(act(
        "notion",
        "update-database",
        json!({"databaseId": "db1", "pageId": "pg1",
        "properties": {"Status": {"status": {"name": "Done"}}}, "archived": false}),
    ));
    assert_eq!(d["lastEditedTime"], "2026-02-03T04:05:00.000Z");
    let d = ok(act(
        "notion",
        "update-database",
        json!({"operation": "query", "databaseId": "db1",
        "filter": {"property": "Status", "status": {"equals": "Done"}}, "pageSize": 10}),
    ));
    assert_eq!(
        (
            d["results"].clone(),
            d["hasMore"].clone(),
            d["nextCursor"].clone()
        ),
        (json!([{"id": "row1"}]), json!(true), json!("cur2"))
    );
    let got = notion.wait_for(8);
    assert_eq!(
        (got[6].method.as_str(), got[6].target.as_str()),
        ("PATCH", "/gw/v1/pages/pg1")
    );
    assert_eq!(
        body_json(&got[6]),
        json!({"properties": {"Status": {"status": {"name": "Done"}}}, "archived": false})
    );
    assert_eq!(
        (got[7].method.as_str(), got[7].target.as_str()),
        ("POST", "/gw/v1/databases/db1/query")
    );
    assert_eq!(
        body_json(&got[7]),
        json!({"filter": {"property": "Status", "status": {"equals": "Done"}}, "page_size": 10})
    );

    // An id is one path segment, whatever it holds.
    ok(act(
        "trello",
        "move-card",
        json!({"cardId": "../../boards/x", "pos": 1}),
    ));
    assert_eq!(
        path_of(&trello.wait_for(6)[5]),
        "/1/cards/..%2F..%2Fboards%2Fx"
    );

    // Notion's error shape comes back in the 502, not retried.
    let r = call(
        &s,
        &e.token,
        &act(
            "notion",
            "manage-blocks",
            json!({"operation": "delete", "blockId": "gone"}),
        ),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text().contains("404") && r.text().contains("Could not find block."),
        "{}",
        r.text()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(notion.count(), 9, "a 4xx is not retried");
}

/// A token endpoint and a Sheets API in one receiver, like Google's: tokens `at-N`; an
/// access token in `expired` gets Google's 401.
struct Google {
    rx: HttpReceiver,
    expired: Arc<Mutex<HashSet<String>>>,
}

fn google(ttl: u64) -> Google {
    let expired: Arc<Mutex<HashSet<String>>> = Arc::default();
    let n = Arc::new(AtomicUsize::new(0));
    let ex = expired.clone();
    let rx = HttpReceiver::api(move |r| {
        let path = path_of(r).to_owned();
        if path == "/token" {
            let form = r.body_text();
            if form.contains("refresh_token=revoked") {
                return (400, json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}).to_string());
            }
            let i = n.fetch_add(1, Ordering::SeqCst) + 1;
            return (200, json!({"access_token": format!("at-{i}-x9y8z7w6"), "expires_in": ttl, "token_type": "Bearer"}).to_string());
        }
        let token = r
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default();
        if token.is_empty() || ex.lock().expect("lock").contains(token) {
            return (401, json!({"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 access token.", "status": "UNAUTHENTICATED"}}).to_string());
        }
        match (r.method.as_str(), path.as_str()) {
            ("GET", "/v4/spreadsheets/sheet1/values/Data!A1:B2") => (200, json!({"range": "Data!A1:B2", "majorDimension": "ROWS", "values": [["a", "1"], ["b", "2"]]}).to_string()),
            ("PUT", "/v4/spreadsheets/sheet1/values/Data!A1") => (200, json!({"spreadsheetId": "sheet1", "updatedRange": "Data!A1:B1", "updatedRows": 1, "updatedColumns": 2, "updatedCells": 2}).to_string()),
            ("POST", "/v4/spreadsheets/sheet1/values/Data!A:B:append") => (200, json!({"spreadsheetId": "sheet1", "tableRange": "Data!A1:B2", "updates": {"updatedRange": "Data!A3:B3", "updatedRows": 1, "updatedColumns": 2, "updatedCells": 2}}).to_string()),
            ("POST", "/v4/spreadsheets/sheet1:batchUpdate") => (200, json!({"spreadsheetId": "sheet1", "replies": [{"addSheet": {"properties": {"sheetId": 42, "title": "Q1", "index": 1}}}]}).to_string()),
            _ => (404, json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}).to_string()),
        }
    });
    Google { rx, expired }
}

fn google_env(g: &Google) -> Vec<(String, String)> {
    vec![
        ("CRONIUM_TOOLS_RETRY_BACKOFF".into(), "10ms".into()),
        ("CRONIUM_TOOLS_SHEETS_URL".into(), g.rx.url("")),
        ("CRONIUM_TOOLS_GOOGLE_TOKEN_URL".into(), g.rx.url("/token")),
    ]
}

fn start(env: &[(String, String)]) -> Sidecar {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Sidecar::start_with(&env)
}

#[test]
fn google_sheets_exchanges_caches_and_refreshes_its_access_token() {
    let g = google(3600);
    let s = start(&google_env(&g));
    add(
        &s,
        "u1",
        "google-sheets",
        "default",
        &json!({"clientId": "cid.apps.googleusercontent.com",
        "clientSecret": "gcs-secret-0123", "refreshToken": "1//refresh-0123", "spreadsheetId": "sheet1"}),
    );
    let e = s.create(&["--user", "u1"]);
    let ok = |body: Value| {
        let r = call(&s, &e.token, &body, None);
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        r.json()["data"].clone()
    };
    let d = ok(act(
        "google-sheets",
        "read-data",
        json!({"range": "Data!A1:B2"}),
    ));
    assert_eq!(d["values"], json!([["a", "1"], ["b", "2"]]));
    assert_eq!(
        (d["range"].as_str(), d["majorDimension"].as_str()),
        (Some("Data!A1:B2"), Some("ROWS"))
    );
    let got = g.rx.wait_for(2);
    assert_eq!(
        (got[0].method.as_str(), got[0].target.as_str()),
        ("POST", "/token")
    );
    assert_eq!(
        got[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(got[0].body_text(), "grant_type=refresh_token&client_id=cid.apps.googleusercontent.com&client_secret=gcs-secret-0123&refresh_token=1%2F%2Frefresh-0123");
    assert_eq!((got[1].method.as_str(), got[1].target.as_str()),
        ("GET", "/v4/spreadsheets/sheet1/values/Data!A1:B2?valueRenderOption=FORMATTED_VALUE&dateTimeRenderOption=FORMATTED_STRING&majorDimension=ROWS"));
    assert_eq!(got[1].header("authorization"), Some("Bearer at-1-x9y8z7w6"));
    assert!(
        !d.to_string().contains("at-1-x9y8z7w6"),
        "the access token is not in the result"
    );

    // Cached: the next calls reuse the token.
    let d = ok(act(
        "google-sheets",
        "write-data",
        json!({"range": "Data!A1", "values": [["x", 1]], "valueInputOption": "RAW"}),
    ));
    assert_eq!(
        (d["updatedRange"].as_str(), d["updatedCells"].as_u64()),
        (Some("Data!A1:B1"), Some(2))
    );
    let d = ok(act(
        "google-sheets",
        "write-data",
        json!({"spreadsheetId": "sheet1", "range": "Data!A:B", "values": [["y", 2]], "insertDataOption": "INSERT_ROWS"}),
    ));
    assert_eq!(
        (d["updatedRange"].as_str(), d["updatedRows"].as_u64()),
        (Some("Data!A3:B3"), Some(1))
    );
    let d = ok(act(
        "google-sheets",
        "create-sheet",
        json!({"title": "Q1", "index": 1, "gridProperties": {"rowCount": 10}}),
    ));
    assert_eq!(
        (
            d["sheetId"].as_u64(),
            d["title"].as_str(),
            d["index"].as_u64()
        ),
        (Some(42), Some("Q1"), Some(1))
    );
    let got = g.rx.wait_for(5);
    assert_eq!(
        got.iter().filter(|r| r.target == "/token").count(),
        1,
        "one token for four calls"
    );
    assert_eq!(
        got[2].target,
        "/v4/spreadsheets/sheet1/values/Data!A1?valueInputOption=RAW"
    );
    assert_eq!(got[2].method, "PUT");
    assert_eq!(
        body_json(&got[2]),
        json!({"range": "Data!A1", "majorDimension": "ROWS", "values": [["x", 1]]})
    );
    assert_eq!((got[3].method.as_str(), got[3].target.as_str()),
        ("POST", "/v4/spreadsheets/sheet1/values/Data!A:B:append?valueInputOption=USER_ENTERED&insertDataOption=INSERT_ROWS"));
    assert_eq!(
        (got[4].method.as_str(), got[4].target.as_str()),
        ("POST", "/v4/spreadsheets/sheet1:batchUpdate")
    );
    assert_eq!(
        body_json(&got[4]),
        json!({"requests": [{"addSheet": {"properties": {"title": "Q1", "index": 1, "gridProperties": {"rowCount": 10}}}}]})
    );

    // The token expires at Google: a 401, one new token, the call repeated once.
    g.expired
        .lock()
        .expect("lock")
        .insert("at-1-x9y8z7w6".into());
    ok(act(
        "google-sheets",
        "read-data",
        json!({"range": "Data!A1:B2"}),
    ));
    let got = g.rx.wait_for(8);
    let tail: Vec<(String, Option<String>)> = got[5..8]
        .iter()
        .map(|r| {
            (
                r.target.split('?').next().unwrap_or_default().to_owned(),
                r.header("authorization").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            (
                "/v4/spreadsheets/sheet1/values/Data!A1:B2".to_owned(),
                Some("Bearer at-1-x9y8z7w6".to_owned())
            ),
            ("/token".into(), None),
            (
                "/v4/spreadsheets/sheet1/values/Data!A1:B2".into(),
                Some("Bearer at-2-x9y8z7w6".into())
            ),
        ]
    );
    // A token refused twice is a failure, after exactly one refresh.
    g.expired
        .lock()
        .expect("lock")
        .extend(["at-2-x9y8z7w6".to_owned(), "at-3-x9y8z7w6".to_owned()]);
    let r = call(
        &s,
        &e.token,
        &act("google-sheets", "read-data", json!({"range": "Data!A1:B2"})),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text().contains("401") && r.text().contains("UNAUTHENTICATED"),
        "{}",
        r.text()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        g.rx.count(),
        11,
        "request, token, request: no second refresh"
    );

    // Google's 404 shape: not retried.
    let r = call(
        &s,
        &e.token,
        &act(
            "google-sheets",
            "read-data",
            json!({"spreadsheetId": "nope", "range": "A1"}),
        ),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text().contains("Requested entity was not found."),
        "{}",
        r.text()
    );
    assert_eq!(
        g.rx.count(),
        13,
        "a fresh token (at-3 was refused), then the one 404"
    );

    // A revoked refresh token: the token endpoint's 400, no retry, no call to Sheets.
    add(
        &s,
        "u1",
        "google-sheets",
        "revoked",
        &json!({"clientId": "cid", "clientSecret": "gcs-secret-0123", "refreshToken": "revoked"}),
    );
    let r = call(
        &s,
        &e.token,
        &json!({"tool": "google-sheets", "action": "read-data", "credential": "revoked",
        "params": {"spreadsheetId": "sheet1", "range": "Data!A1:B2"}}),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text().contains("token endpoint") && r.text().contains("invalid_grant"),
        "{}",
        r.text()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(g.rx.count(), 14);
}

#[test]
fn a_token_close_to_expiry_is_fetched_again() {
    // Google says 30 s: within the sidecar's 60 s margin, so every call gets a new one.
    let g = google(30);
    let s = start(&google_env(&g));
    add(
        &s,
        "u1",
        "google-sheets",
        "default",
        &json!({"clientId": "cid", "clientSecret": "gcs-secret-0123", "refreshToken": "1//r", "spreadsheetId": "sheet1"}),
    );
    let e = s.create(&["--user", "u1"]);
    for _ in 0..2 {
        let r = call(
            &s,
            &e.token,
            &act("google-sheets", "read-data", json!({"range": "Data!A1:B2"})),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let got = g.rx.wait_for(4);
    assert_eq!(got.iter().filter(|r| r.target == "/token").count(), 2);
}

#[test]
fn a_service_account_signs_its_grant_with_rs256() {
    let g = google(3600);
    let s = start(&google_env(&g));
    add(
        &s,
        "u1",
        "google-sheets",
        "default",
        &json!({"type": "service_account", "project_id": "p",
        "private_key_id": "k1", "private_key": SA_KEY, "client_email": "bot@p.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token", "spreadsheetId": "sheet1"}),
    );
    let e = s.create(&["--user", "u1"]);
    let r = call(
        &s,
        &e.token,
        &act("google-sheets", "read-data", json!({"range": "Data!A1:B2"})),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let token_req = &g.rx.wait_for(2)[0];
    let form: Vec<(String, String)> = token_req
        .body_text()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":")))
        .collect();
    assert_eq!(
        form[0],
        (
            "grant_type".to_owned(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()
        )
    );
    let assertion = &form[1].1;
    // Checked by an independent implementation (jsonwebtoken, RustCrypto).
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[g.rx.url("/token")]);
    v.set_issuer(&["bot@p.iam.gserviceaccount.com"]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(SA_PUB.as_bytes()).expect("public key");
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &v)
        .expect("a valid RS256 grant")
        .claims;
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/spreadsheets"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        3600
    );
    assert!((claims["iat"].as_i64().unwrap_or(0) - now()).abs() < 60);
}

#[test]
fn params_are_checked_against_the_registry_and_errors_name_the_field() {
    let teams = HttpReceiver::start(Reply::Status(200, "1"));
    let trello = trello();
    let notion = notion();
    let g = google(3600);
    let mut env = google_env(&g);
    env.push(("CRONIUM_TOOLS_TRELLO_URL".into(), trello.url("")));
    env.push(("CRONIUM_TOOLS_NOTION_URL".into(), notion.url("")));
    let s = start(&env);
    add(
        &s,
        "u1",
        "teams",
        "default",
        &json!({"webhook_url": teams.url("/webhookb2/x0123456789abcdef")}),
    );
    add(
        &s,
        "u1",
        "trello",
        "default",
        &json!({"apiKey": "trellokey0123", "apiToken": "trellotoken0123"}),
    );
    add(
        &s,
        "u1",
        "notion",
        "default",
        &json!({"apiKey": "secret_notion0123"}),
    );
    add(
        &s,
        "u1",
        "google-sheets",
        "default",
        &json!({"clientId": "c", "clientSecret": "gcs-secret-0123", "refreshToken": "r0123456"}),
    );
    let e = s.create(&["--user", "u1"]);
    for (tool, action, params, needle) in [
        ("teams", "send-message", json!({}), "message is required"),
        (
            "teams",
            "send-message",
            json!({"message": ""}),
            "message must not be empty",
        ),
        (
            "teams",
            "send-message",
            json!({"message": "x", "webhookUrl": "https://evil"}),
            "webhookUrl is not a field",
        ),
        (
            "teams",
            "send-card",
            json!({"card": {"type": "Hero", "body": []}}),
            "card.type must be \"AdaptiveCard\"",
        ),
        (
            "teams",
            "send-card",
            json!({"card": {"type": "AdaptiveCard"}}),
            "card.body is required",
        ),
        (
            "trello",
            "create-card",
            json!({"name": "x"}),
            "listId is required",
        ),
        (
            "trello",
            "create-card",
            json!({"listId": "l", "name": "x", "pos": "middle"}),
            "pos must be",
        ),
        (
            "trello",
            "create-card",
            json!({"listId": "l", "name": "x", "idMembers": "m1"}),
            "idMembers must be an array",
        ),
        (
            "trello",
            "move-card",
            json!({"cardId": "c"}),
            "destinationListId is required",
        ),
        (
            "trello",
            "add-checklist",
            json!({"cardId": "c", "name": "n", "checkItems": [{"name": "a"}, {"checked": true}]}),
            "checkItems[1].name is required",
        ),
        (
            "trello",
            "add-checklist",
            json!({"cardId": "c", "name": "n", "checkItems": [{"name": "a", "checked": "yes"}]}),
            "checkItems[0].checked must be a boolean",
        ),
        (
            "notion",
            "create-page",
            json!({"parentId": "p"}),
            "title is required",
        ),
        (
            "notion",
            "create-page",
            json!({"parentId": "p", "title": "t", "children": [{"type": "video"}]}),
            "children[0].type must be one of",
        ),
        (
            "notion",
            "manage-blocks",
            json!({"operation": "move"}),
            "operation must be one of",
        ),
        (
            "notion",
            "manage-blocks",
            json!({"operation": "append", "blocks": [{"type": "paragraph"}]}),
            "pageId is required for operation append",
        ),
        (
            "notion",
            "manage-blocks",
            json!({"operation": "delete"}),
            "blockId is required",
        ),
        (
            "notion",
            "search-content",
            json!({"query": "q", "pageSize": 101}),
            "pageSize must be at most 100",
        ),
        (
            "notion",
            "update-database",
            json!({"operation": "query"}),
            "databaseId is required",
        ),
        (
            "notion",
            "update-database",
            json!({"pageId": "p"}),
            "properties is required",
        ),
        (
            "google-sheets",
            "read-data",
            json!({"range": "A1"}),
            "spreadsheetId is required",
        ),
        (
            "google-sheets",
            "read-data",
            json!({"spreadsheetId": "s"}),
            "range is required",
        ),
        (
            "google-sheets",
            "write-data",
            json!({"spreadsheetId": "s", "range": "A1", "values": [1]}),
            "values[0] must be an array",
        ),
        (
            "google-sheets",
            "write-data",
            json!({"spreadsheetId": "s", "range": "A1", "values": [[1]], "valueInputOption": "PARSED"}),
            "valueInputOption must be one of \"RAW\", \"USER_ENTERED\"",
        ),
        (
            "google-sheets",
            "create-sheet",
            json!({"spreadsheetId": "s", "title": "t", "tabColor": {"red": 2}}),
            "tabColor.red must be at most 1",
        ),
        (
            "google-sheets",
            "create-sheet",
            json!({"spreadsheetId": "s", "title": "t", "index": -1}),
            "index must be at least 0",
        ),
    ] {
        let r = call(&s, &e.token, &act(tool, action, params.clone()), None);
        r.expect_error(400, "tool_params_invalid");
        let msg = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(msg.contains(needle), "{tool} {action} {params}: {msg}");
    }
    // The old tools go through the same schemas.
    let r = call(
        &s,
        &e.token,
        &act("teams", "send-message", json!({"message": 5})),
        None,
    );
    assert!(
        r.text()
            .contains("teams send-message: message must be a string, not an integer"),
        "{}",
        r.text()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        teams.count() + trello.count() + notion.count() + g.rx.count(),
        0,
        "nothing was sent"
    );
}

#[test]
fn api_tools_retry_5xx_with_one_delivery_and_replay_after_a_restart() {
    let trello = trello();
    let tu = trello.url("");
    let mut env = FAST.to_vec();
    env.push(("CRONIUM_TOOLS_TRELLO_URL", tu.as_str()));
    let s = Sidecar::start_with(&env);
    add(
        &s,
        "u1",
        "trello",
        "default",
        &json!({"apiKey": "trellokey0123", "apiToken": "trellotoken0123"}),
    );
    let e = s.create(&["--user", "u1"]);
    let card = act(
        "trello",
        "create-card",
        json!({"listId": "l1", "name": "once"}),
    );
    // Two 5xx (Trello's plain-text error), then the card: three requests, one card.
    trello.then(&[
        Reply::Status(503, "Service Unavailable"),
        Reply::Status(500, "Internal Server Error"),
    ]);
    let first = call(&s, &e.token, &card, Some("card-key-1"));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["data"]["attempts"], 3);
    assert_eq!(first.json()["data"]["cardId"], "card1");
    assert_eq!(trello.wait_for(3).len(), 3);
    // 4xx (Trello's 401 text): no retry.
    trello.then(&[Reply::Status(401, "invalid token")]);
    let r = call(
        &s,
        &e.token,
        &act(
            "trello",
            "create-card",
            json!({"listId": "l1", "name": "refused"}),
        ),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text().contains("401") && r.text().contains("invalid token"),
        "{}",
        r.text()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(trello.count(), 4);
    // 5xx all the way: 1 + 3 retries, one 502.
    trello.then(&[Reply::Status(502, "Bad Gateway"); 4]);
    let r = call(
        &s,
        &e.token,
        &act("trello", "move-card", json!({"cardId": "c", "pos": "top"})),
        None,
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(r.text().contains("after 4 attempts"), "{}", r.text());
    assert_eq!(trello.count(), 8);
    // A follow-up request failing: the error says the checklist exists.
    trello.then(&[
        Reply::Status(200, "{\"id\": \"cl1\"}"),
        Reply::Status(400, "invalid value for name"),
    ]);
    let r = call(
        &s,
        &e.token,
        &act(
            "trello",
            "add-checklist",
            json!({"cardId": "c", "name": "n", "checkItems": [{"name": "a"}]}),
        ),
        Some("cl-key"),
    );
    r.expect_error(502, "tool_upstream_failed");
    assert!(
        r.text()
            .contains("the first request succeeded, then 0 of 1 follow-up"),
        "{}",
        r.text()
    );
    assert_eq!(trello.count(), 10);

    // After a restart the keys still answer from the store: nothing is sent again.
    let dir = s.dir.clone();
    let mut s = s;
    s.stop();
    let s2 = Sidecar::start_in(&dir, "rt2.sock", &env);
    let again = call(&s2, &e.token, &card, Some("card-key-1"));
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());
    let r = call(
        &s2,
        &e.token,
        &act(
            "trello",
            "add-checklist",
            json!({"cardId": "c", "name": "n", "checkItems": [{"name": "a"}]}),
        ),
        Some("cl-key"),
    );
    r.expect_error(502, "tool_upstream_failed");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(trello.count(), 10, "replays send nothing");
}

/// Every new credential field, echoed back by the endpoints in successes and failures,
/// must appear nowhere the sidecar writes: answers, errors, its trace log, the admin
/// commands' output, the audit entries and the database files.
#[test]
fn new_credential_fields_never_leak() {
    const TEAMS: &str = "teamsleak0A1b2c3d4e5f6";
    const TRELLO_KEY: &str = "trellokeyleak0G7h8i9";
    const TRELLO_TOKEN: &str = "trellotokleak0J1k2l3";
    const NOTION: &str = "secret_notionleak0M4n5";
    const G_SECRET: &str = "gclientleak0P6q7r8s9";
    const G_REFRESH: &str = "grefreshleak0T1u2v3w4";
    let sa_line = SA_KEY.lines().nth(5).unwrap_or_default().to_owned();
    let secrets = [
        TEAMS,
        TRELLO_KEY,
        TRELLO_TOKEN,
        NOTION,
        G_SECRET,
        G_REFRESH,
        sa_line.as_str(),
    ];

    // An echoing API: every answer holds the whole request (an access token is the
    // refresh token itself, so the echo of the Sheets call carries it too).
    let echo = HttpReceiver::api(|r| {
        let all = format!(
            "{} {} {:?} {}",
            r.method,
            r.target,
            r.headers,
            r.body_text()
        );
        if path_of(r) == "/token" {
            let token = r
                .body_text()
                .split("refresh_token=")
                .nth(1)
                .unwrap_or("sa-token-0123456")
                .to_owned();
            return (
                200,
                json!({"access_token": token, "expires_in": 3600, "echo": all}).to_string(),
            );
        }
        let status = if r.target.contains("fail") { 400 } else { 200 };
        (status, json!({"id": "x", "echo": all}).to_string())
    });
    let base = echo.url("");
    let token_url = echo.url("/token");
    let env = [
        ("CRONIUM_LOG", "trace"),
        ("CRONIUM_TOOLS_RATE_LIMIT", "0"),
        ("CRONIUM_TOOLS_RETRY_BACKOFF", "10ms"),
        ("CRONIUM_TOOLS_TRELLO_URL", base.as_str()),
        ("CRONIUM_TOOLS_NOTION_URL", base.as_str()),
        ("CRONIUM_TOOLS_SHEETS_URL", base.as_str()),
        ("CRONIUM_TOOLS_GOOGLE_TOKEN_URL", token_url.as_str()),
    ];
    let s = Sidecar::start_with(&env);
    add(
        &s,
        "u1",
        "teams",
        "default",
        &json!({"webhookUrl": echo.url(&format!("/webhookb2/{TEAMS}"))}),
    );
    add(
        &s,
        "u1",
        "teams",
        "fail",
        &json!({"webhookUrl": echo.url(&format!("/fail/{TEAMS}"))}),
    );
    add(
        &s,
        "u1",
        "trello",
        "default",
        &json!({"apiKey": TRELLO_KEY, "apiToken": TRELLO_TOKEN}),
    );
    add(&s, "u1", "notion", "default", &json!({"apiKey": NOTION}));
    add(
        &s,
        "u1",
        "google-sheets",
        "default",
        &json!({"clientId": "cid", "clientSecret": G_SECRET, "refreshToken": G_REFRESH, "spreadsheetId": "s1"}),
    );
    add(
        &s,
        "u1",
        "google-sheets",
        "sa",
        &json!({"type": "service_account", "client_email": "bot@p.iam.gserviceaccount.com", "private_key": SA_KEY, "spreadsheetId": "s1"}),
    );
    let e = s.create(&["--user", "u1"]);
    let mut seen = String::new();
    let mut run = |body: Value| {
        let r = call(&s, &e.token, &body, Some(&format!("k{}", seen.len())));
        seen.push_str(&format!("{} {:?}\n{}\n", r.status, r.headers, r.text()));
        r
    };
    for body in [
        act("teams", "send-message", json!({"message": "hi"})),
        json!({"tool": "teams", "action": "send-message", "credential": "fail", "params": {"message": "hi"}}),
        act("trello", "create-card", json!({"listId": "l", "name": "n"})),
        act(
            "trello",
            "move-card",
            json!({"cardId": "fail", "pos": "top"}),
        ),
        act(
            "trello",
            "add-checklist",
            json!({"cardId": "c", "name": "n", "checkItems": [{"name": "a"}]}),
        ),
        act(
            "notion",
            "create-page",
            json!({"parentId": "p", "title": "t"}),
        ),
        act(
            "notion",
            "manage-blocks",
            json!({"operation": "delete", "blockId": "fail"}),
        ),
        act("google-sheets", "read-data", json!({"range": "A1"})),
        act("google-sheets", "read-data", json!({"range": "fail"})),
        json!({"tool": "google-sheets", "action": "write-data", "credential": "sa", "params": {"range": "A1", "values": [[1]]}}),
    ] {
        let r = run(body.clone());
        assert!(r.status == 200 || r.status == 502, "{body}: {}", r.text());
    }
    assert!(
        seen.contains("[redacted]"),
        "echoed secrets were scrubbed: {seen}"
    );
    let delivered: String = echo
        .requests()
        .iter()
        .map(|r| format!("{} {:?} {}", r.target, r.headers, r.body_text()))
        .collect();
    for secret in [TEAMS, TRELLO_KEY, TRELLO_TOKEN, NOTION, G_SECRET, G_REFRESH] {
        assert!(delivered.contains(secret), "{secret} was not used");
    }
    let mut outputs = seen.clone();
    for args in [
        vec!["tools", "list"],
        vec!["tools", "list", "--json"],
        vec!["tools", "test", "--user", "u1", "--tool", "notion"],
        vec![
            "tools",
            "test",
            "--user",
            "u1",
            "--tool",
            "google-sheets",
            "--name",
            "sa",
        ],
        vec!["executions", "show", e.id.as_str(), "--json"],
    ] {
        let out = cronium()
            .arg("--state-dir")
            .arg(&s.dir)
            .args(&args)
            .output()
            .expect("admin");
        outputs.push_str(&String::from_utf8_lossy(&out.stdout));
        outputs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        outputs.contains("tool.execute"),
        "the audit entries were read"
    );
    let mut s = s;
    s.stop();
    let log = s.log();
    let mut db = Vec::new();
    for name in ["cronium.db", "cronium.db-wal", "cronium.db-shm"] {
        if let Ok(bytes) = std::fs::read(s.dir.join(name)) {
            db.extend(bytes);
        }
    }
    assert!(db.len() > 4096);
    for secret in secrets {
        assert!(
            !outputs.contains(secret),
            "{secret} in an answer or output:\n{outputs}"
        );
        assert!(!log.contains(secret), "{secret} in the sidecar log");
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the database"
        );
    }
}

#[test]
fn scripts_list_their_tools_and_operators_print_the_schemas() {
    let s = Sidecar::start_with(FAST);
    add(
        &s,
        "u1",
        "trello",
        "default",
        &json!({"apiKey": "trellokey0123", "apiToken": "trellotoken0123"}),
    );
    add(
        &s,
        "u1",
        "trello",
        "ops",
        &json!({"apiKey": "trellokey0456", "apiToken": "trellotoken0456"}),
    );
    add(
        &s,
        "u1",
        "slack",
        "default",
        &json!({"webhook_url": "https://hooks.slack.com/services/T/B/slacksecret0123"}),
    );
    add(
        &s,
        "u2",
        "notion",
        "default",
        &json!({"apiKey": "secret_other0123"}),
    );
    let e = s.create(&["--user", "u1"]);
    let r = s.req("GET", "/v1/tools", Some(&e.token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"data": {"tools": [
            {"tool": "slack", "credentials": ["default"], "actions": ["send-message"]},
            {"tool": "trello", "credentials": ["default", "ops"], "actions": ["create-card", "move-card", "add-checklist"]},
        ]}})
    );
    assert!(!r.text().contains("trellokey") && !r.text().contains("slacksecret"));
    // client-core's list_tools (what every binding calls) answers the same list.
    let c = cronium_client::BlockingClient::new(
        cronium_client::Config::builder()
            .socket(&s.socket)
            .token(&e.token)
            .build()
            .expect("config"),
    )
    .expect("client");
    let listed: Value = c.list_tools().expect("list_tools");
    assert_eq!(listed, r.json()["data"]["tools"]);
    // And its Trello ToolCall reaches the sidecar with the registry's params.
    let call = cronium_client::ToolCall::trello_card("", "x", None);
    let err = c
        .execute_tool_call::<Value>(&call, None)
        .expect_err("an empty listId");
    assert_eq!(err.code(), "tool_params_invalid");
    assert!(
        err.to_string().contains("listId must not be empty"),
        "{err}"
    );
    // Another user's: only theirs. Without tools:execute: 403.
    let e2 = s.create(&["--user", "u3"]);
    assert_eq!(
        s.req("GET", "/v1/tools", Some(&e2.token), None).json(),
        json!({"data": {"tools": []}})
    );
    let e3 = s.create(&["--user", "u1", "--scope", "input:read"]);
    s.req("GET", "/v1/tools", Some(&e3.token), None)
        .expect_error(403, "scope_insufficient");

    // `tools test --params` on a tool with several actions needs --action.
    let out = cronium()
        .arg("--state-dir")
        .arg(&s.dir)
        .args([
            "tools", "test", "--user", "u1", "--tool", "trello", "--params", "{}",
        ])
        .output()
        .expect("tools test");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--action") && err.contains("move-card"),
        "{err}"
    );

    // `cronium tools schema`: every tool, one tool, one action; a bad name is one line.
    let schema = |args: &[&str]| {
        let out = cronium()
            .args(["tools", "schema"])
            .args(args)
            .output()
            .expect("schema");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, all, _) = schema(&[]);
    assert_eq!(code, Some(0));
    let all: Value = serde_json::from_str(&all).expect("JSON");
    assert_eq!(all.as_array().map(Vec::len), Some(8));
    let (_, one, _) = schema(&["google-sheets"]);
    let one: Value = serde_json::from_str(&one).expect("JSON");
    assert_eq!(
        one["credential"]["anyOf"][0]["required"],
        json!(["clientId", "clientSecret", "refreshToken"])
    );
    let (_, action, _) = schema(&["trello", "add-checklist"]);
    let action: Value = serde_json::from_str(&action).expect("JSON");
    assert_eq!(action["params"]["required"], json!(["cardId", "name"]));
    assert_eq!(
        action["result"]["properties"]["checklistId"]["type"],
        "string"
    );
    let (code, _, err) = schema(&["trello", "fly"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("create-card") && err.lines().count() == 1,
        "{err}"
    );
}
