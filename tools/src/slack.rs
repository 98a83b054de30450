//! Slack incoming webhooks: `POST <webhook URL>` with `{"text", "blocks", ...}`; Slack
//! answers `200 ok`.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Method;
use serde_json::{Map, Value};

use super::ToolError;
use super::{http::Outgoing, params_invalid, wrong_type, Params};

/// Params the action takes (the incoming-webhook fields a script may set).
const KNOWN: &[&str] = &[
    "text",
    "blocks",
    "attachments",
    "channel",
    "username",
    "icon_emoji",
    "icon_url",
    "thread_ts",
];

/// Builds the webhook request. `blocks` may be an array, or (as Cronium's UI stores it)
/// a JSON string holding an array or `{"blocks": [...]}`.
pub(super) fn prepare(url: &url::Url, p: &Params<'_>) -> Result<Outgoing, ToolError> {
    p.only(KNOWN)?;
    let mut payload = Map::new();
    let text = p.string("text")?;
    if let Some(t) = text {
        payload.insert("text".into(), t.into());
    }
    let blocks = match p.get("blocks") {
        None => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(Value::String(s)) => Some(blocks_from_text(s)?),
        Some(other) => return Err(wrong_type("blocks", "an array of Block Kit blocks", other)),
    };
    if let Some(b) = &blocks {
        if !b.iter().all(Value::is_object) {
            return Err(params_invalid("every entry of blocks must be an object"));
        }
        payload.insert("blocks".into(), Value::Array(b.clone()));
    }
    if let Some(a) = p.array("attachments")? {
        payload.insert("attachments".into(), Value::Array(a.clone()));
    }
    let has_text = text.is_some_and(|t| !t.trim().is_empty());
    let has_blocks = blocks.as_ref().is_some_and(|b| !b.is_empty());
    let has_attachments = payload.contains_key("attachments");
    if !has_text && !has_blocks && !has_attachments {
        return Err(params_invalid(
            "slack send-message needs text (or blocks); e.g. {\"text\": \"done\"}",
        ));
    }
    for name in ["channel", "username", "icon_emoji", "icon_url", "thread_ts"] {
        if let Some(v) = p.string(name)? {
            payload.insert(name.into(), v.into());
        }
    }
    Ok(Outgoing {
        method: Method::POST,
        url: url.clone(),
        headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body: Bytes::from(Value::Object(payload).to_string()),
    })
}

fn blocks_from_text(s: &str) -> Result<Vec<Value>, ToolError> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(Value::Object(mut o)) => match o.remove("blocks") {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(params_invalid(
                "blocks given as text must hold an array or {\"blocks\": [...]}",
            )),
        },
        _ => Err(params_invalid(
            "blocks must be an array of Block Kit blocks (or JSON text of one)",
        )),
    }
}
