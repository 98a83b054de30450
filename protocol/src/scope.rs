//! The permissions a token carries in its `scope` claim; each route needs at most one
//! ([`crate::route::Route::scope`]).

use std::fmt;

/// One permission a token can carry.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `input:read`: input, input stream, context.
    InputRead,
    /// `output:write`: output and output stream (also reading the output back).
    OutputWrite,
    /// `variables:read`: list, get and watch variables.
    VariablesRead,
    /// `variables:write`: put and delete variables.
    VariablesWrite,
    /// `condition:write`: set the workflow condition (also reading it back).
    ConditionWrite,
    /// `tools:execute`: run tool actions.
    ToolsExecute,
}

impl Scope {
    /// Every scope, in bit order; "full scope" (a token without a `scope` claim) is all
    /// of them.
    pub const ALL: [Scope; 6] = [
        Scope::InputRead,
        Scope::OutputWrite,
        Scope::VariablesRead,
        Scope::VariablesWrite,
        Scope::ConditionWrite,
        Scope::ToolsExecute,
    ];

    /// The wire spelling, as it appears in the `scope` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::InputRead => "input:read",
            Scope::OutputWrite => "output:write",
            Scope::VariablesRead => "variables:read",
            Scope::VariablesWrite => "variables:write",
            Scope::ConditionWrite => "condition:write",
            Scope::ToolsExecute => "tools:execute",
        }
    }

    /// Reads the wire spelling (exact, case-sensitive); `None` for a scope this version
    /// does not know, which verification ignores so that newer issuers stay compatible.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// The known scopes of a claim written as one space-separated string (OAuth style);
    /// unknown ones are skipped.
    pub fn parse_spaced(s: &str) -> impl Iterator<Item = Scope> + '_ {
        s.split_ascii_whitespace().filter_map(Scope::parse)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_unknown_ones_are_skipped() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("Input:Read"), None);
        let got: Vec<Scope> = Scope::parse_spaced(" input:read  admin:all tools:execute").collect();
        assert_eq!(got, [Scope::InputRead, Scope::ToolsExecute]);
    }
}
