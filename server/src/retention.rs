//! Background retention: every `[retention] interval` the sidecar prunes what ended
//! executions left behind (stream blocks, audit entries) past their ages, in bounded
//! batches, each its own short transaction ([`cronium_store::Store::prune_batch`]), so a
//! request waits for one batch at most. Variables are never pruned.

use std::sync::Arc;
use std::time::Duration;

use cronium_store::{Retention, Store};
use tokio_util::sync::CancellationToken;

/// Prunes every `interval` until `shutdown`, the first time one interval after start (a
/// sidecar restarting in a loop does not prune in a loop). A failed prune is logged and
/// tried again at the next interval: retention is housekeeping, never a reason to stop
/// serving.
pub fn spawn(
    store: Arc<dyn Store>,
    retention: Retention,
    interval: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            let now = cronium_store::now_unix();
            match cronium_store::prune_all(store.as_ref(), now, &retention).await {
                Ok(p) if p.is_empty() => tracing::debug!("retention: nothing to prune"),
                Ok(p) => tracing::info!(
                    stream_blocks = p.stream_blocks,
                    stream_bytes = p.stream_bytes,
                    audit_entries = p.audit_entries,
                    executions = p.executions,
                    "retention: pruned"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "retention: prune failed; retrying at the next interval")
                }
            }
        }
    })
}

/// One line saying what a prune removed, for `cronium gc` and logs.
pub fn summary(p: &cronium_store::Pruned) -> String {
    format!(
        "pruned {} stream block{} ({} bytes) and {} audit entr{} of {} ended execution{}",
        p.stream_blocks,
        if p.stream_blocks == 1 { "" } else { "s" },
        p.stream_bytes,
        p.audit_entries,
        if p.audit_entries == 1 { "y" } else { "ies" },
        p.executions,
        if p.executions == 1 { "" } else { "s" },
    )
}
