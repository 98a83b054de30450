//! Tool and action ids of `POST /v1/tool-actions/execute`, with the aliases the server
//! accepts (Cronium's long action ids, and `send` for email).

use std::fmt;

/// A tool a script can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// Slack incoming webhook.
    Slack,
    /// Discord webhook.
    Discord,
    /// Any HTTP endpoint under a credential's base URL.
    Webhook,
    /// SMTP.
    Email,
    /// Microsoft Teams incoming webhook.
    Teams,
    /// Notion's REST API.
    Notion,
    /// Trello's REST API.
    Trello,
    /// Google Sheets API (OAuth refresh token or service account).
    GoogleSheets,
}

impl Tool {
    /// Every tool.
    pub const ALL: [Tool; 8] = [
        Tool::Slack,
        Tool::Discord,
        Tool::Webhook,
        Tool::Email,
        Tool::Teams,
        Tool::Notion,
        Tool::Trello,
        Tool::GoogleSheets,
    ];

    /// Its id on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Slack => "slack",
            Tool::Discord => "discord",
            Tool::Webhook => "webhook",
            Tool::Email => "email",
            Tool::Teams => "teams",
            Tool::Notion => "notion",
            Tool::Trello => "trello",
            Tool::GoogleSheets => "google-sheets",
        }
    }

    /// Reads a tool id (exact, lowercase).
    pub fn parse(s: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The tool's actions.
    pub fn actions(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| a.tool() == self)
    }

    /// The action an id (short form or alias) names for this tool.
    pub fn action(self, id: &str) -> Option<Action> {
        self.actions()
            .find(|a| a.as_str() == id || a.aliases().contains(&id))
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One action of one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `slack` / `send-message`.
    SlackSendMessage,
    /// `discord` / `send-message`.
    DiscordSendMessage,
    /// `webhook` / `request`.
    WebhookRequest,
    /// `email` / `send-email`.
    EmailSendEmail,
    /// `teams` / `send-message`: a MessageCard.
    TeamsSendMessage,
    /// `teams` / `send-card`: an Adaptive Card.
    TeamsSendCard,
    /// `notion` / `create-page`.
    NotionCreatePage,
    /// `notion` / `manage-blocks`: append, update, delete or retrieve blocks.
    NotionManageBlocks,
    /// `notion` / `search-content`.
    NotionSearchContent,
    /// `notion` / `update-database`: update an entry, or query the database.
    NotionUpdateDatabase,
    /// `trello` / `create-card`.
    TrelloCreateCard,
    /// `trello` / `move-card`.
    TrelloMoveCard,
    /// `trello` / `add-checklist`, with its items.
    TrelloAddChecklist,
    /// `google-sheets` / `read-data`.
    SheetsReadData,
    /// `google-sheets` / `write-data` (update a range, or append rows).
    SheetsWriteData,
    /// `google-sheets` / `create-sheet`.
    SheetsCreateSheet,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 16] = [
        Action::SlackSendMessage,
        Action::DiscordSendMessage,
        Action::WebhookRequest,
        Action::EmailSendEmail,
        Action::TeamsSendMessage,
        Action::TeamsSendCard,
        Action::NotionCreatePage,
        Action::NotionManageBlocks,
        Action::NotionSearchContent,
        Action::NotionUpdateDatabase,
        Action::TrelloCreateCard,
        Action::TrelloMoveCard,
        Action::TrelloAddChecklist,
        Action::SheetsReadData,
        Action::SheetsWriteData,
        Action::SheetsCreateSheet,
    ];

    /// The tool it belongs to.
    pub fn tool(self) -> Tool {
        match self {
            Action::SlackSendMessage => Tool::Slack,
            Action::DiscordSendMessage => Tool::Discord,
            Action::WebhookRequest => Tool::Webhook,
            Action::EmailSendEmail => Tool::Email,
            Action::TeamsSendMessage | Action::TeamsSendCard => Tool::Teams,
            Action::NotionCreatePage
            | Action::NotionManageBlocks
            | Action::NotionSearchContent
            | Action::NotionUpdateDatabase => Tool::Notion,
            Action::TrelloCreateCard | Action::TrelloMoveCard | Action::TrelloAddChecklist => {
                Tool::Trello
            }
            Action::SheetsReadData | Action::SheetsWriteData | Action::SheetsCreateSheet => {
                Tool::GoogleSheets
            }
        }
    }

    /// The canonical (short) id, the one results and audit lines name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SlackSendMessage | Action::DiscordSendMessage | Action::TeamsSendMessage => {
                "send-message"
            }
            Action::WebhookRequest => "request",
            Action::EmailSendEmail => "send-email",
            Action::TeamsSendCard => "send-card",
            Action::NotionCreatePage => "create-page",
            Action::NotionManageBlocks => "manage-blocks",
            Action::NotionSearchContent => "search-content",
            Action::NotionUpdateDatabase => "update-database",
            Action::TrelloCreateCard => "create-card",
            Action::TrelloMoveCard => "move-card",
            Action::TrelloAddChecklist => "add-checklist",
            Action::SheetsReadData => "read-data",
            Action::SheetsWriteData => "write-data",
            Action::SheetsCreateSheet => "create-sheet",
        }
    }

    /// Other ids the server accepts for it (Cronium's long ids; `send` for email).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Action::SlackSendMessage => &["slack-send-message"],
            Action::DiscordSendMessage => &["discord-send-message"],
            Action::WebhookRequest => &[],
            Action::EmailSendEmail => &["send"],
            Action::TeamsSendMessage => &["teams-send-message"],
            Action::TeamsSendCard => &["teams-send-card"],
            Action::NotionCreatePage => &["notion-create-page"],
            Action::NotionManageBlocks => &["notion-manage-blocks"],
            Action::NotionSearchContent => &["notion-search-content"],
            Action::NotionUpdateDatabase => &["notion-update-database"],
            Action::TrelloCreateCard => &["trello-create-card"],
            Action::TrelloMoveCard => &["trello-move-card"],
            Action::TrelloAddChecklist => &["trello-add-checklist"],
            Action::SheetsReadData => &["google-sheets-read-data"],
            Action::SheetsWriteData => &["google-sheets-write-data"],
            Action::SheetsCreateSheet => &["google-sheets-create-sheet"],
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tool(), self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_aliases_resolve() {
        assert_eq!(Tool::parse("slack"), Some(Tool::Slack));
        assert_eq!(Tool::parse("Slack"), None);
        assert_eq!(
            Tool::Slack.action("send-message"),
            Some(Action::SlackSendMessage)
        );
        assert_eq!(
            Tool::Slack.action("slack-send-message"),
            Some(Action::SlackSendMessage)
        );
        assert_eq!(Tool::Slack.action("discord-send-message"), None);
        assert_eq!(
            Tool::Discord.action("discord-send-message"),
            Some(Action::DiscordSendMessage)
        );
        assert_eq!(Tool::Email.action("send"), Some(Action::EmailSendEmail));
        assert_eq!(
            Tool::Webhook.action("request"),
            Some(Action::WebhookRequest)
        );
        // The old helpers' `send_message` is not an id the server takes.
        assert_eq!(Tool::Slack.action("send_message"), None);
        for tool in Tool::ALL {
            assert!(tool.actions().count() >= 1, "{tool}");
        }
        assert_eq!(Action::EmailSendEmail.to_string(), "email/send-email");
        assert_eq!(Tool::parse("google-sheets"), Some(Tool::GoogleSheets));
        assert_eq!(
            Tool::Teams.action("send-message"),
            Some(Action::TeamsSendMessage)
        );
        assert_eq!(
            Tool::Trello.action("trello-add-checklist"),
            Some(Action::TrelloAddChecklist)
        );
        assert_eq!(Tool::Notion.action("send-message"), None);
    }
}
