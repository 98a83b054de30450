//! Integration tests of the sidecar: a real `cronium serve` process on a temp socket and
//! TCP port, driven through raw HTTP and through client-core. One binary for the crate.

mod api;
mod bad_input;
mod client;
mod containers;
mod finish;
mod harness;
mod lifecycle;
mod migrate;
mod postgres;
mod receivers;
mod run;
mod run_isolate;
mod run_ssh;
mod storage_full;
mod tls;
mod tokens;
mod tools;
mod tools_api;
