//! The tool convenience calls (a Slack, Discord or Teams message, an email, a Trello card,
//! rows appended to a Google Sheet), defined once so every
//! binding sends the same tool, action and params for the same call.
//!
//! Each takes the message first, then the optional extra fields of the tool's payload;
//! the named arguments win over extra fields of the same name. The bindings expose them as
//! `send_slack_message(text, *, channel=None, **fields)` (Python) and
//! `sendSlackMessage(text, fields?, options?)` (Node); see docs/bindings.md.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};

use cronium_protocol::tool::Action;

/// One tool action with its params, ready for [`Client::execute_tool_call`](crate::Client::execute_tool_call).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    tool: &'static str,
    action: &'static str,
    params: Map<String, Value>,
}

impl ToolCall {
    fn new(
        action: Action,
        fields: Option<Map<String, Value>>,
        named: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> ToolCall {
        let mut params = fields.unwrap_or_default();
        for (name, value) in named {
            params.insert(name.to_owned(), value);
        }
        ToolCall {
            tool: action.tool().as_str(),
            action: action.as_str(),
            params,
        }
    }

    /// A Slack message: `text`, the `channel` when given, and any other field of Slack's
    /// webhook payload (`blocks`, `username`, ...).
    pub fn slack_message(
        text: &str,
        channel: Option<&str>,
        fields: Option<Map<String, Value>>,
    ) -> ToolCall {
        let mut named = vec![("text", Value::from(text))];
        if let Some(channel) = channel {
            named.push(("channel", Value::from(channel)));
        }
        ToolCall::new(Action::SlackSendMessage, fields, named)
    }

    /// A Discord message: `content` and any other field of Discord's webhook payload
    /// (`embeds`, `username`, ...).
    pub fn discord_message(content: &str, fields: Option<Map<String, Value>>) -> ToolCall {
        ToolCall::new(
            Action::DiscordSendMessage,
            fields,
            [("content", Value::from(content))],
        )
    }

    /// An email to every address of `to`, with `subject` and a text `body`, and any other
    /// field of the email tool (`cc`, `bcc`, `html`, ...).
    pub fn email(
        to: &[String],
        subject: &str,
        body: &str,
        fields: Option<Map<String, Value>>,
    ) -> ToolCall {
        ToolCall::new(
            Action::EmailSendEmail,
            fields,
            [
                ("to", Value::from(to.to_vec())),
                ("subject", Value::from(subject)),
                ("body", Value::from(body)),
            ],
        )
    }

    /// A Microsoft Teams message: `message` (Markdown) and any other field of the
    /// `send-message` action (`title`, `color`, `sections`, `potentialAction`).
    pub fn teams_message(message: &str, fields: Option<Map<String, Value>>) -> ToolCall {
        ToolCall::new(
            Action::TeamsSendMessage,
            fields,
            [("message", Value::from(message))],
        )
    }

    /// A Trello card named `name` in the list `list_id`, with any other field of
    /// `create-card` (`desc`, `pos`, `due`, `idMembers`, `idLabels`, ...).
    pub fn trello_card(list_id: &str, name: &str, fields: Option<Map<String, Value>>) -> ToolCall {
        ToolCall::new(
            Action::TrelloCreateCard,
            fields,
            [
                ("listId", Value::from(list_id)),
                ("name", Value::from(name)),
            ],
        )
    }

    /// Rows appended after the table in `range` of a Google Sheet (`write-data` with
    /// `insertDataOption: INSERT_ROWS`), with any other field (`spreadsheetId`,
    /// `valueInputOption`, ...). `rows` is a JSON array of arrays.
    pub fn sheet_rows(range: &str, rows: Value, fields: Option<Map<String, Value>>) -> ToolCall {
        ToolCall::new(
            Action::SheetsWriteData,
            fields,
            [
                ("range", Value::from(range)),
                ("values", rows),
                ("insertDataOption", Value::from("INSERT_ROWS")),
            ],
        )
    }

    /// Extra fields given as JSON text (what the bindings pass): a JSON object, or `null`
    /// for none. Anything else fails with `invalid_body`.
    pub fn fields_from_json(text: &str) -> Result<Option<Map<String, Value>>> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            Ok(Value::Null) => Ok(None),
            Ok(_) => Err(Error::new(
                ErrorKind::Validation,
                "invalid_body",
                "the extra fields of a tool call must be an object",
            )),
            Err(e) => Err(Error::new(
                ErrorKind::Validation,
                "invalid_body",
                format!("the extra fields of a tool call are not JSON: {e}"),
            )),
        }
    }

    /// The tool's id (`slack`, `discord`, `email`).
    pub fn tool(&self) -> &str {
        self.tool
    }

    /// The action's id.
    pub fn action(&self) -> &str {
        self.action
    }

    /// The params sent.
    pub fn params(&self) -> &Map<String, Value> {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Option<Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    #[test]
    fn each_call_names_its_tool_and_action() {
        let slack = ToolCall::slack_message("hi", Some("#ops"), None);
        assert_eq!((slack.tool(), slack.action()), ("slack", "send-message"));
        assert_eq!(
            Value::Object(slack.params().clone()),
            json!({"text": "hi", "channel": "#ops"})
        );
        let discord = ToolCall::discord_message("yo", fields(json!({"embeds": []})));
        assert_eq!(
            (discord.tool(), discord.action()),
            ("discord", "send-message")
        );
        assert_eq!(
            Value::Object(discord.params().clone()),
            json!({"embeds": [], "content": "yo"})
        );
        let email = ToolCall::email(&["a@x".into(), "b@x".into()], "s", "b", None);
        assert_eq!((email.tool(), email.action()), ("email", "send-email"));
        assert_eq!(
            Value::Object(email.params().clone()),
            json!({"to": ["a@x", "b@x"], "subject": "s", "body": "b"})
        );
        let teams = ToolCall::teams_message("done", fields(json!({"title": "CI"})));
        assert_eq!((teams.tool(), teams.action()), ("teams", "send-message"));
        assert_eq!(
            Value::Object(teams.params().clone()),
            json!({"title": "CI", "message": "done"})
        );
        let card = ToolCall::trello_card("l1", "Fix", None);
        assert_eq!((card.tool(), card.action()), ("trello", "create-card"));
        assert_eq!(
            Value::Object(card.params().clone()),
            json!({"listId": "l1", "name": "Fix"})
        );
        let rows = ToolCall::sheet_rows(
            "Log!A:B",
            json!([["a", 1]]),
            fields(json!({"spreadsheetId": "s"})),
        );
        assert_eq!(
            (rows.tool(), rows.action()),
            ("google-sheets", "write-data")
        );
        assert_eq!(
            Value::Object(rows.params().clone()),
            json!({"spreadsheetId": "s", "range": "Log!A:B", "values": [["a", 1]], "insertDataOption": "INSERT_ROWS"})
        );
    }

    #[test]
    fn named_arguments_win_over_extra_fields() {
        let call = ToolCall::slack_message(
            "named",
            None,
            fields(json!({"text": "field", "channel": "#kept", "blocks": [1]})),
        );
        assert_eq!(
            Value::Object(call.params().clone()),
            json!({"text": "named", "channel": "#kept", "blocks": [1]})
        );
    }

    #[test]
    fn extra_fields_must_be_an_object() {
        assert_eq!(ToolCall::fields_from_json("null").expect("null"), None);
        assert!(ToolCall::fields_from_json(r#"{"a":1}"#)
            .expect("object")
            .is_some());
        for bad in ["[1]", "\"x\"", "{", "3"] {
            let err = ToolCall::fields_from_json(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_body", "{bad}");
        }
    }
}
