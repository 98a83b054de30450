//! The wire contract of the Cronium runtime API, written once.
//!
//! The sidecar answers with it, `cronium-client` (and through it every language binding)
//! reads with it, and a test (`tests/contract.rs`) checks `openapi.json` and
//! `docs/API.md` against it in both directions, so a code, route or scope cannot be
//! added in one place and forgotten in another.
//!
//! | module | what |
//! |---|---|
//! | [`error`] | [`ErrorCode`] (string, HTTP status, [`ErrorKind`], retryable) and the fallback rules for codes this version does not know |
//! | [`scope`] | [`Scope`]: the permissions a token carries |
//! | [`key`] | [`validate_key`]: the variable key rule |
//! | [`wire`] | serde types of the bodies: envelopes, error bodies, variables, changes, summaries |
//! | [`tool`] | [`Tool`] ids and their action ids with aliases |
//! | [`route`] | [`ROUTES`]: method, path, scope, metric name and family of every route; [`ADMIN_ROUTES`]: the admin API |
//! | [`helpers`] | [`OLD_HELPERS`]: the old helper names and what they mean today |
//!
//! No I/O: everything here is data, so it costs nothing to depend on.

#![forbid(unsafe_code)]

pub mod error;
pub mod helpers;
pub mod key;
pub mod route;
pub mod scope;
pub mod tool;
pub mod wire;

pub use error::{ErrorCode, ErrorKind, UnknownErrorCode};
pub use helpers::{Modernize, OldHelper, OLD_HELPERS};
pub use key::{validate_key, InvalidKey, KEY_MAX_BYTES};
pub use route::{Family, Route, ADMIN_PREFIX, ADMIN_ROUTES, ROUTES};
pub use scope::Scope;
pub use tool::{Action, Tool};
