//! The one registry of tools: each tool's credential schema, its actions, each action's
//! params schema and result shape, and (for the REST-API tools) how to open a credential.
//! The engine checks every call's params against the schema here before the tool sees
//! them, and `cronium tools schema` and `openapi.json` print the same schemas.
//!
//! Adding a tool: its ids in the protocol crate (`tool.rs`), one file implementing
//! [`Plugin`](crate::plugin::Plugin) with its schemas, and its entry in [`REGISTRY`].

use serde_json::{json, Map, Value};

use super::plugin::Plugin;
use super::{google, notion, teams, trello, Action, Tool};

/// One action of a tool.
#[derive(Debug)]
pub struct ActionSpec {
    /// Its id.
    pub action: Action,
    /// One line saying what it does.
    pub summary: &'static str,
    /// JSON Schema of its params.
    pub params: fn() -> Value,
    /// JSON Schema of its result's own fields (besides the common ones).
    pub result: fn(Action) -> Value,
}

/// Opens a stored configuration of a REST-API tool.
pub type OpenFn = fn(&Map<String, Value>) -> Result<Box<dyn Plugin>, String>;

/// One tool.
pub struct ToolSpec {
    /// Its id.
    pub tool: Tool,
    /// One line saying what it is.
    pub summary: &'static str,
    /// JSON Schema of its credential configuration.
    pub credential: fn() -> Value,
    /// Its actions.
    pub actions: &'static [ActionSpec],
    /// For plugin tools: how a credential opens. The transport tools (Slack, Discord,
    /// webhook, email) are built into the engine and have none.
    pub open: Option<OpenFn>,
}

impl std::fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSpec")
            .field("tool", &self.tool)
            .field("actions", &self.actions)
            .finish_non_exhaustive()
    }
}

impl ToolSpec {
    /// The spec of one of its actions.
    pub fn action(&self, a: Action) -> Option<&ActionSpec> {
        self.actions.iter().find(|s| s.action == a)
    }
}

fn no_result(_: Action) -> Value {
    json!({"type": "object", "properties": {}})
}

/// Every tool, in [`Tool::ALL`] order.
pub static REGISTRY: [ToolSpec; 8] = [
    ToolSpec {
        tool: Tool::Slack,
        summary: "Slack incoming webhook",
        credential: chat_credential,
        actions: &[ActionSpec {
            action: Action::SlackSendMessage,
            summary: "Post a message (text, blocks, attachments)",
            params: slack_params,
            result: no_result,
        }],
        open: None,
    },
    ToolSpec {
        tool: Tool::Discord,
        summary: "Discord webhook",
        credential: chat_credential,
        actions: &[ActionSpec {
            action: Action::DiscordSendMessage,
            summary: "Post a message (content, embeds)",
            params: discord_params,
            result: no_result,
        }],
        open: None,
    },
    ToolSpec {
        tool: Tool::Webhook,
        summary: "Any HTTP endpoint under the credential's base URL",
        credential: webhook_credential,
        actions: &[ActionSpec {
            action: Action::WebhookRequest,
            summary: "Send one request under the base URL",
            params: webhook_params,
            result: no_result,
        }],
        open: None,
    },
    ToolSpec {
        tool: Tool::Email,
        summary: "E-mail over SMTP",
        credential: email_credential,
        actions: &[ActionSpec {
            action: Action::EmailSendEmail,
            summary: "Send a message",
            params: email_params,
            result: no_result,
        }],
        open: None,
    },
    ToolSpec {
        tool: Tool::Teams,
        summary: "Microsoft Teams incoming webhook",
        credential: teams::credential_schema,
        actions: &[
            ActionSpec {
                action: Action::TeamsSendMessage,
                summary: "Post a MessageCard (text, title, colour, sections, actions)",
                params: teams::send_message_params,
                result: no_result,
            },
            ActionSpec {
                action: Action::TeamsSendCard,
                summary: "Post an Adaptive Card",
                params: teams::send_card_params,
                result: no_result,
            },
        ],
        open: Some(teams::open),
    },
    ToolSpec {
        tool: Tool::Notion,
        summary: "Notion pages, blocks, search and databases",
        credential: notion::credential_schema,
        actions: &[
            ActionSpec {
                action: Action::NotionCreatePage,
                summary: "Create a page (under a page or in a database)",
                params: notion::create_page_params,
                result: notion::result_schema,
            },
            ActionSpec {
                action: Action::NotionManageBlocks,
                summary: "Append, update, delete or retrieve blocks",
                params: notion::manage_blocks_params,
                result: notion::result_schema,
            },
            ActionSpec {
                action: Action::NotionSearchContent,
                summary: "Search pages and databases",
                params: notion::search_content_params,
                result: notion::result_schema,
            },
            ActionSpec {
                action: Action::NotionUpdateDatabase,
                summary: "Update a database entry, or query a database",
                params: notion::update_database_params,
                result: notion::result_schema,
            },
        ],
        open: Some(notion::open),
    },
    ToolSpec {
        tool: Tool::Trello,
        summary: "Trello cards and checklists",
        credential: trello::credential_schema,
        actions: &[
            ActionSpec {
                action: Action::TrelloCreateCard,
                summary: "Create a card in a list",
                params: trello::create_card_params,
                result: trello::result_schema,
            },
            ActionSpec {
                action: Action::TrelloMoveCard,
                summary: "Move a card to another list or board",
                params: trello::move_card_params,
                result: trello::result_schema,
            },
            ActionSpec {
                action: Action::TrelloAddChecklist,
                summary: "Add a checklist with its items to a card",
                params: trello::add_checklist_params,
                result: trello::result_schema,
            },
        ],
        open: Some(trello::open),
    },
    ToolSpec {
        tool: Tool::GoogleSheets,
        summary: "Google Sheets values and sheets",
        credential: google::credential_schema,
        actions: &[
            ActionSpec {
                action: Action::SheetsReadData,
                summary: "Read a range",
                params: google::read_params,
                result: google::result_schema,
            },
            ActionSpec {
                action: Action::SheetsWriteData,
                summary: "Write a range, or append rows (insertDataOption)",
                params: google::write_params,
                result: google::result_schema,
            },
            ActionSpec {
                action: Action::SheetsCreateSheet,
                summary: "Add a sheet to a spreadsheet",
                params: google::create_params,
                result: google::result_schema,
            },
        ],
        open: Some(google::open),
    },
];

/// The spec of a tool.
pub fn spec(tool: Tool) -> &'static ToolSpec {
    REGISTRY
        .iter()
        .find(|s| s.tool == tool)
        .expect("every tool is in the registry (checked by a test)")
}

/// The fields every successful result has, whatever the tool.
pub fn common_result() -> Value {
    json!({
        "ok": {"const": true},
        "tool": {"type": "string"},
        "action": {"type": "string"},
        "credential": {"type": "string"},
        "status": {"type": "integer", "description": "The upstream's HTTP status (250 for SMTP)"},
        "body": {"type": "string", "description": "The start of the upstream's answer, secrets redacted"},
        "truncated": {"type": "boolean"},
        "attempts": {"type": "integer"}
    })
}

/// One action's schemas: `{"tool", "action", "aliases", "summary", "params", "result"}`.
pub fn action_json(a: &ActionSpec) -> Value {
    let mut result = (a.result)(a.action);
    let mut props = common_result();
    if let Some(own) = result.get("properties").and_then(Value::as_object) {
        for (k, v) in own {
            props[k] = v.clone();
        }
    }
    result["properties"] = props;
    json!({
        "tool": a.action.tool().as_str(),
        "action": a.action.as_str(),
        "aliases": a.action.aliases(),
        "summary": a.summary,
        "params": (a.params)(),
        "result": result,
    })
}

/// One tool's schemas: `{"tool", "summary", "credential", "actions": [...]}`.
pub fn tool_json(t: &ToolSpec) -> Value {
    json!({
        "tool": t.tool.as_str(),
        "summary": t.summary,
        "credential": (t.credential)(),
        "actions": t.actions.iter().map(action_json).collect::<Vec<_>>(),
    })
}

/// Every tool's schemas.
pub fn all_json() -> Value {
    Value::Array(REGISTRY.iter().map(tool_json).collect())
}

// The built-in transport tools' schemas. Their own checks (aliases such as Cronium's
// `webhookUrl`, `blocks` given as JSON text) stay in their files; these schemas describe
// and check the same fields.

fn chat_credential() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "webhook_url": {"type": "string", "description": "The incoming-webhook URL"},
            "webhookUrl": {"type": "string", "description": "Cronium's name for webhook_url"}
        }
    })
}

fn slack_params() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "description": "text, blocks or attachments is needed",
        "properties": {
            "text": {"type": "string"},
            "blocks": {"type": ["array", "string"], "description": "Block Kit blocks (or JSON text of them)"},
            "attachments": {"type": "array"},
            "channel": {"type": "string"},
            "username": {"type": "string"},
            "icon_emoji": {"type": "string"},
            "icon_url": {"type": "string"},
            "thread_ts": {"type": "string"}
        }
    })
}

fn discord_params() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "description": "content or embeds is needed",
        "properties": {
            "content": {"type": "string", "maxLength": 2000},
            "embeds": {"type": "array", "maxItems": 10, "items": {"type": "object"}},
            "username": {"type": "string"},
            "avatar_url": {"type": "string"},
            "tts": {"type": "boolean"}
        }
    })
}

fn webhook_credential() -> Value {
    json!({
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": false,
        "properties": {
            "base_url": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "allowed_paths": {"type": "array", "items": {"type": "string"}},
            "methods": {"type": "array", "items": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}
        }
    })
}

fn webhook_params() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "method": {"type": "string", "default": "POST"},
            "path": {"type": "string"},
            "query": {"type": "object"},
            "headers": {"type": "object"},
            "body": {}
        }
    })
}

fn email_credential() -> Value {
    json!({
        "type": "object",
        "required": ["host", "from"],
        "properties": {
            "host": {"type": "string"},
            "port": {"type": "integer"},
            "security": {"enum": ["starttls", "tls", "none"]},
            "username": {"type": "string"},
            "password": {"type": "string"},
            "from": {"type": "string"}
        }
    })
}

fn email_params() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "to": {"type": ["string", "array"]},
            "cc": {"type": ["string", "array"]},
            "bcc": {"type": ["string", "array"]},
            "subject": {"type": "string"},
            "body": {"type": "string"},
            "isHtml": {"type": "boolean"},
            "html": {"type": "boolean"},
            "replyTo": {"type": "string"},
            "reply_to": {"type": "string"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_and_action_is_registered_once() {
        for (t, s) in Tool::ALL.iter().zip(REGISTRY.iter()) {
            assert_eq!(*t, s.tool, "registry order follows Tool::ALL");
            let ids: Vec<Action> = s.actions.iter().map(|a| a.action).collect();
            let want: Vec<Action> = t.actions().collect();
            assert_eq!(ids, want, "{t}");
            for a in s.actions {
                let j = action_json(a);
                assert_eq!(j["params"]["type"], "object", "{}", a.action);
            }
        }
        assert_eq!(all_json().as_array().map(Vec::len), Some(8));
    }
}
