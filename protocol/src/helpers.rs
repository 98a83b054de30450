//! The helper names scripts written for Cronium's older runtime helpers call, and what
//! each means today: the source for the compatibility shims the bindings keep and for a
//! tool that rewrites old scripts.
//!
//! The old helpers are Cronium's `runtime-helpers` (Python module `cronium`, Node
//! `cronium.js`, Bash `cronium.sh`) and the file-based helpers before them
//! (`getVariable`, `setVariable`, `setCondition`, `getCondition`, and the global
//! `cronium` object of Node scripts).

use std::fmt;

/// A language whose scripts call the helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// `import cronium` (module-level functions).
    Python,
    /// `require('cronium')`, or the global `cronium` of old scripts.
    Node,
    /// `source cronium.sh` (or the loadable builtin).
    Bash,
}

impl Language {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Node => "node",
            Language::Bash => "bash",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One old helper name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OldHelper {
    /// The language.
    pub language: Language,
    /// The name old scripts call.
    pub old: &'static str,
    /// The name to call today in that language; equal to `old` when the name was kept.
    pub today: &'static str,
    /// The API operation ([`crate::Route::operation`]) it performs; `None` for helpers
    /// that combine several calls or call none.
    pub operation: Option<&'static str>,
    /// Whether the binding still answers to the old name (a shim or the same name), so
    /// old scripts run unchanged.
    pub shimmed: bool,
    /// What the old helper did and returned, where it differs from today's call.
    pub semantics: &'static str,
    /// How `cronium migrate --modernize` turns a call of the old name into today's.
    pub modernize: Modernize,
}

/// How a call of an old name becomes a call of today's name (`cronium migrate --modernize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modernize {
    /// The old name is today's name: nothing to do.
    Keep,
    /// Call `today` with the same arguments: same answer.
    Rename,
    /// Call `today` with the same arguments, but only where the call is a statement of its
    /// own: the old helper returned something else (e.g. `True` where today returns the
    /// new version), so a call whose value is used is left and reported.
    RenameStatement,
    /// Call `today` with the argument made a boolean (`bool(x)`): the old helper took any
    /// value's truthiness, today's takes a boolean only.
    RenameBool,
    /// No mechanical rewrite keeps the answer the same (e.g. Bash `cronium_getVariable`
    /// printed strings without their quotes, `cronium_get_variable` prints JSON): left and
    /// reported.
    Review,
}

const fn h(
    language: Language,
    old: &'static str,
    today: &'static str,
    operation: Option<&'static str>,
    shimmed: bool,
    semantics: &'static str,
) -> OldHelper {
    OldHelper {
        language,
        old,
        today,
        operation,
        shimmed,
        semantics,
        modernize: if old.len() == today.len() && same(old, today) {
            Modernize::Keep
        } else {
            Modernize::Rename
        },
    }
}

/// `a == b` for the const constructor (str equality is not const).
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl OldHelper {
    /// The same entry with another [`Modernize`] rule, for names whose rewrite is not a
    /// plain rename.
    const fn modernized(mut self, modernize: Modernize) -> Self {
        self.modernize = modernize;
        self
    }
}

use Language::{Bash, Node, Python};

/// Every old helper name, by language.
pub const OLD_HELPERS: &[OldHelper] = &[
    // Python: Cronium's runtime-helpers module, and the file-based camelCase names.
    h(Python, "input", "input", Some("getInput"), true, "the input; None when there is none"),
    h(Python, "output", "output", Some("setOutput"), true, "sets the output; returns None"),
    h(Python, "event", "event", Some("getContext"), true, "the event context as a dict"),
    h(Python, "get_variable", "get_variable", Some("getVariable"), true, "the value, None for a missing key"),
    h(Python, "set_variable", "set_variable", Some("setVariable"), true, "returned None; today returns the new version"),
    h(Python, "set_condition", "set_condition", Some("setCondition"), true, "sets the workflow condition"),
    h(Python, "execute_tool_action", "execute_tool_action", Some("executeToolAction"), true, "sent params as `config` and actions as `send_message`; the sidecar takes `config` but only the ids of crate::tool"),
    h(Python, "send_email", "send_email", Some("executeToolAction"), true, "email/send_message with `to` as a list; today email/send-email"),
    h(Python, "send_slack_message", "send_slack_message", Some("executeToolAction"), true, "slack/send_message with a `channel` first argument"),
    h(Python, "send_discord_message", "send_discord_message", Some("executeToolAction"), true, "discord/send_message with a `channelId` param the webhook API does not take"),
    h(Python, "getVariable", "get_variable", Some("getVariable"), true, "file-based helper: the value, None for a missing key"),
    h(Python, "setVariable", "set_variable", Some("setVariable"), true, "file-based helper: stores the value").modernized(Modernize::RenameStatement),
    h(Python, "setCondition", "set_condition", Some("setCondition"), true, "file-based helper").modernized(Modernize::RenameBool),
    h(Python, "getCondition", "get_condition", Some("getCondition"), true, "file-based helper: the condition, None when unset"),
    // Node: Cronium's runtime-helpers (async), and the global `cronium` of file-based
    // scripts (synchronous).
    h(Node, "input", "input", Some("getInput"), true, "the input; the global `cronium.input()` gives {} when there is none"),
    h(Node, "output", "output", Some("setOutput"), true, "sets the output"),
    h(Node, "event", "getEventContext", Some("getContext"), true, "the event context object").modernized(Modernize::Rename),
    h(Node, "getVariable", "getVariable", Some("getVariable"), true, "the value; the global `cronium.getVariable` gives null for a missing key"),
    h(Node, "setVariable", "setVariable", Some("setVariable"), true, "the global `cronium.setVariable` returns true"),
    h(Node, "setCondition", "setCondition", Some("setCondition"), true, "the global `cronium.setCondition` takes any truthy value and returns the boolean stored"),
    h(Node, "getCondition", "getCondition", Some("getCondition"), true, "the condition, null when unset"),
    h(Node, "executeToolAction", "executeToolAction", Some("executeToolAction"), true, "took (tool, action, config) positionally with `send_message` action ids"),
    h(Node, "sendEmail", "sendEmail", Some("executeToolAction"), true, "took one options object {to, subject, body, ...}"),
    h(Node, "sendSlackMessage", "sendSlackMessage", Some("executeToolAction"), true, "took one options object {channel, text, ...}"),
    h(Node, "sendDiscordMessage", "sendDiscordMessage", Some("executeToolAction"), true, "took one options object {channelId, content, ...}"),
    // Bash: Cronium's runtime-helpers cronium.sh, and the camelCase file-based names.
    h(Bash, "cronium_input", "cronium_input", Some("getInput"), true, "prints the input's `data` (jq -r: strings without quotes)"),
    h(Bash, "cronium_output", "cronium_output", Some("setOutput"), true, "a value that is not JSON was stored as a JSON string"),
    h(Bash, "cronium_get_variable", "cronium_get_variable", Some("getVariable"), true, "printed the value with jq -r (strings without quotes), empty for a missing key"),
    h(Bash, "cronium_set_variable", "cronium_set_variable", Some("setVariable"), true, "a value that is not JSON was stored as a JSON string"),
    h(Bash, "cronium_set_condition", "cronium_set_condition", Some("setCondition"), true, "took true/false, 1/0, yes/no, on/off"),
    h(Bash, "cronium_event", "cronium_event", Some("getContext"), true, "prints the event context JSON"),
    h(Bash, "cronium_event_field", "cronium_event", Some("getContext"), false, "one field of the context; today `cronium_event FIELD`").modernized(Modernize::Review),
    h(Bash, "cronium_execute_tool_action", "cronium_execute_tool_action", Some("executeToolAction"), true, "took TOOL ACTION CONFIG_JSON with `send_message` action ids"),
    h(Bash, "cronium_send_email", "cronium_execute_tool_action", Some("executeToolAction"), false, "TO SUBJECT BODY [--cc --bcc --html]; today cronium_execute_tool_action email send-email PARAMS").modernized(Modernize::Review),
    h(Bash, "cronium_send_slack_message", "cronium_execute_tool_action", Some("executeToolAction"), false, "CHANNEL TEXT [--username --icon-emoji --icon-url]; today cronium_execute_tool_action slack send-message PARAMS").modernized(Modernize::Review),
    h(Bash, "cronium_send_discord_message", "cronium_execute_tool_action", Some("executeToolAction"), false, "CHANNEL_ID CONTENT [--embed JSON]; today cronium_execute_tool_action discord send-message PARAMS").modernized(Modernize::Review),
    h(Bash, "cronium_variable_exists", "cronium_get_variable", Some("getVariable"), false, "status 0 when the value is non-empty; today cronium_get_variable fails for a missing key").modernized(Modernize::Review),
    h(Bash, "cronium_delete_variable", "cronium_delete_variable", Some("deleteVariable"), true, "set the value to null; today it deletes the key"),
    h(Bash, "cronium_increment_variable", "cronium_set_variable", None, false, "read, add (default 1), write and print; today a get and a set (with If-Match for safety)").modernized(Modernize::Review),
    h(Bash, "cronium_append_variable", "cronium_set_variable", None, false, "read, append with an optional separator, write; today a get and a set").modernized(Modernize::Review),
    h(Bash, "cronium_info", "cronium_info", None, true, "printed the SDK version, API URL, execution id and the token's first characters; today the runtime's health, never the token"),
    h(Bash, "cronium_getVariable", "cronium_get_variable", Some("getVariable"), true, "file-based helper: a string value printed without its quotes").modernized(Modernize::Review),
    h(Bash, "cronium_setVariable", "cronium_set_variable", Some("setVariable"), true, "file-based helper: a value that is not JSON-looking is stored as a string").modernized(Modernize::Review),
    h(Bash, "cronium_setCondition", "cronium_set_condition", Some("setCondition"), true, "file-based helper"),
    h(Bash, "cronium_getCondition", "cronium_get_condition", Some("getCondition"), true, "file-based helper"),
];

/// The entry for an old name in a language.
pub fn find(language: Language, old: &str) -> Option<&'static OldHelper> {
    OLD_HELPERS
        .iter()
        .find(|h| h.language == language && h.old == old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Route;
    use std::collections::HashSet;

    #[test]
    fn entries_are_unique_and_name_real_operations() {
        let mut seen = HashSet::new();
        for h in OLD_HELPERS {
            assert!(
                seen.insert((h.language, h.old)),
                "{} {} twice",
                h.language,
                h.old
            );
            if let Some(op) = h.operation {
                assert!(
                    Route::by_operation(op).is_some(),
                    "{}: no operation {op}",
                    h.old
                );
            }
            assert!(!h.semantics.is_empty(), "{}", h.old);
        }
        assert_eq!(
            find(Language::Node, "event").map(|h| h.today),
            Some("getEventContext")
        );
        assert!(find(Language::Bash, "getVariable").is_none());
        // The --modernize rule: a plain rename only where the answer is the same.
        let rule = |l, n| find(l, n).map(|h| h.modernize);
        assert_eq!(
            rule(Language::Python, "getVariable"),
            Some(Modernize::Rename)
        );
        assert_eq!(
            rule(Language::Python, "setCondition"),
            Some(Modernize::RenameBool)
        );
        assert_eq!(rule(Language::Python, "input"), Some(Modernize::Keep));
        assert_eq!(
            rule(Language::Bash, "cronium_getVariable"),
            Some(Modernize::Review)
        );
        for h in OLD_HELPERS {
            assert_eq!(
                h.modernize == Modernize::Keep,
                h.old == h.today,
                "{}",
                h.old
            );
        }
    }
}
