//! Microsoft Teams incoming webhooks: `send-message` posts a MessageCard, `send-card` an
//! Adaptive Card wrapped in a message; Teams answers `200 1` (classic connectors) or
//! `202` (Workflows webhooks). The whole webhook URL is the secret.

use http::Method;
use serde_json::{json, Map, Value};

use super::config::Endpoints;
use super::plugin::{json_request, opt, opt_str, req_str, Plan, Plugin};
use super::{chat_webhook, origin, Action, ChatWebhook, Secrets, ToolError};

/// JSON Schema of the credential (Cronium's `webhookUrl` is accepted too).
pub fn credential_schema() -> Value {
    json!({
        "type": "object",
        "description": "A Teams incoming-webhook URL (Cronium's webhookUrl is accepted too).",
        "properties": {
            "webhook_url": {"type": "string", "description": "https://<tenant>.webhook.office.com/webhookb2/..."},
            "webhookUrl": {"type": "string", "description": "Cronium's name for webhook_url"}
        },
        "additionalProperties": false
    })
}

/// Params of `send-message`.
pub fn send_message_params() -> Value {
    json!({
        "type": "object",
        "required": ["message"],
        "additionalProperties": false,
        "properties": {
            "message": {"type": "string", "minLength": 1, "description": "The text (Markdown)"},
            "title": {"type": "string"},
            "color": {"type": "string", "description": "Theme colour, hex without #", "default": "0078D4"},
            "sections": {"type": "array", "items": {"type": "object"}, "description": "Further MessageCard sections (activityTitle, facts, text, images...)"},
            "potentialAction": {"type": "array", "items": {"type": "object", "required": ["@type", "name"]}}
        }
    })
}

/// Params of `send-card`.
pub fn send_card_params() -> Value {
    json!({
        "type": "object",
        "required": ["card"],
        "additionalProperties": false,
        "properties": {
            "card": {
                "type": "object",
                "required": ["type", "body"],
                "description": "An Adaptive Card; $schema and version (1.4) are filled in when absent",
                "properties": {
                    "type": {"const": "AdaptiveCard"},
                    "body": {"type": "array", "items": {"type": "object", "required": ["type"]}},
                    "actions": {"type": "array", "items": {"type": "object", "required": ["type"]}},
                    "version": {"type": "string"},
                    "$schema": {"type": "string"}
                }
            },
            "fallbackText": {"type": "string", "description": "Text for clients without Adaptive Cards"}
        }
    })
}

struct Teams(ChatWebhook);

/// Reads a Teams credential.
pub fn open(cfg: &Map<String, Value>) -> Result<Box<dyn Plugin>, String> {
    Ok(Box::new(Teams(chat_webhook(cfg)?)))
}

impl Plugin for Teams {
    fn describe(&self) -> String {
        origin(&self.0.url)
    }

    fn secrets(&self, s: &mut Secrets) {
        s.add_url(&self.0.url);
    }

    fn probe_url(&self, _: &Endpoints) -> url::Url {
        self.0.url.clone()
    }

    fn plan(
        &self,
        action: Action,
        p: &Map<String, Value>,
        _: &Endpoints,
    ) -> Result<Plan, ToolError> {
        let body = match action {
            Action::TeamsSendCard => {
                let mut card = opt(p, "card").cloned().unwrap_or_default();
                if let Value::Object(c) = &mut card {
                    c.entry("$schema").or_insert_with(|| {
                        "http://adaptivecards.io/schemas/adaptive-card.json".into()
                    });
                    c.entry("version").or_insert_with(|| "1.4".into());
                }
                let mut m = json!({
                    "type": "message",
                    "attachments": [{
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "contentUrl": null,
                        "content": card
                    }]
                });
                if let Some(t) = opt_str(p, "fallbackText") {
                    m["text"] = t.into();
                }
                m
            }
            _ => {
                let message = req_str(p, "message");
                let title = opt_str(p, "title");
                let summary = title
                    .map(str::to_owned)
                    .unwrap_or_else(|| message.chars().take(100).collect());
                let mut sections = vec![json!({"text": message})];
                if let Some(Value::Array(more)) = opt(p, "sections") {
                    sections.extend(more.iter().cloned());
                }
                let mut m = json!({
                    "@type": "MessageCard",
                    "@context": "https://schema.org/extensions",
                    "themeColor": opt_str(p, "color").unwrap_or("0078D4"),
                    "summary": summary,
                    "sections": sections,
                });
                if let Some(t) = title {
                    m["title"] = t.into();
                }
                if let Some(a) = opt(p, "potentialAction") {
                    m["potentialAction"] = a.clone();
                }
                m
            }
        };
        Ok(Plan::one(
            json_request(Method::POST, self.0.url.clone(), vec![], Some(&body)),
            Box::new(|_, _| Map::new()),
        ))
    }
}
