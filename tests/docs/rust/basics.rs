//! docs/rust.md, "A program", and the README's Rust example: built as the client-core
//! example `docs_basics` (client-core/Cargo.toml) and run by tests/docs/run.sh under
//! `cronium run`, which checks the output it set.
// START basics
use cronium_client::BlockingClient;
use serde_json::{json, Value};

fn main() -> cronium_client::Result<()> {
    let client = BlockingClient::from_env()?; // CRONIUM_RUNTIME_SOCKET, CRONIUM_EXECUTION_TOKEN
    let order: Value = client.input()?;
    let seen = client
        .get_variable::<u64>("orders_seen")?
        .map_or(0, |v| v.value);
    client.set_variable("orders_seen", &(seen + 1), None)?;
    client.output(&json!({"id": order["id"], "ok": true}))?;
    Ok(())
}
// END basics
