//! Discord webhooks: `POST <webhook URL>` with `{"content", "embeds", ...}`; Discord
//! answers `204 No Content`.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Method;
use serde_json::{Map, Value};

use super::ToolError;
use super::{http::Outgoing, params_invalid, Params};

const KNOWN: &[&str] = &["content", "embeds", "username", "avatar_url", "tts"];

/// Discord's own limits, checked here so the script gets a clear message instead of a 400
/// from Discord.
const MAX_CONTENT_CHARS: usize = 2000;
const MAX_EMBEDS: usize = 10;

/// Builds the webhook request.
pub(super) fn prepare(url: &url::Url, p: &Params<'_>) -> Result<Outgoing, ToolError> {
    p.only(KNOWN)?;
    let mut payload = Map::new();
    let content = p.string("content")?;
    if let Some(c) = content {
        if c.chars().count() > MAX_CONTENT_CHARS {
            return Err(params_invalid(format!(
                "content is longer than Discord's {MAX_CONTENT_CHARS} characters"
            )));
        }
        payload.insert("content".into(), c.into());
    }
    let embeds = p.array("embeds")?;
    if let Some(e) = embeds {
        if e.len() > MAX_EMBEDS || !e.iter().all(Value::is_object) {
            return Err(params_invalid(format!(
                "embeds must be at most {MAX_EMBEDS} objects"
            )));
        }
        payload.insert("embeds".into(), Value::Array(e.clone()));
    }
    if content.is_none_or(|c| c.trim().is_empty()) && embeds.is_none_or(Vec::is_empty) {
        return Err(params_invalid(
            "discord send-message needs content (or embeds); e.g. {\"content\": \"done\"}",
        ));
    }
    for name in ["username", "avatar_url"] {
        if let Some(v) = p.string(name)? {
            payload.insert(name.into(), v.into());
        }
    }
    if let Some(t) = p.bool("tts")? {
        payload.insert("tts".into(), t.into());
    }
    Ok(Outgoing {
        method: Method::POST,
        url: url.clone(),
        headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body: Bytes::from(Value::Object(payload).to_string()),
    })
}
