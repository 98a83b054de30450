//! Tests of the server crate: the app answered in process, requests built in memory (no
//! socket), on a real SQLite store and real tokens. The tests that drive `cronium serve`
//! over real sockets are the CLI crate's. One binary for the crate.

mod admin;
mod router;
