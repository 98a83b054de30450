//! Integration tests of the sidecar: a real `cronium serve` process on a temp socket and
//! TCP port, driven through raw HTTP and through client-core. One binary for the crate.

mod admin_api;
mod api;
mod bad_input;
mod client;
mod connections;
mod containers;
mod finish;
mod harden;
mod harness;
mod inspect;
mod lifecycle;
mod migrate;
mod postgres;
mod receivers;
mod retention;
mod run;
mod run_isolate;
mod run_ssh;
mod shell;
mod storage_full;
mod tls;
mod tokens;
mod tools;
mod tools_api;
