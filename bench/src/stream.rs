//! The output stream's rows: NDJSON posted to `/v1/output/stream` into durable storage,
//! on the SQLite store next to writing the same bytes to a file, and on the PostgreSQL
//! store next to a plain `COPY` of the same bytes; with the sidecar's RSS growth meanwhile.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{load, Row, Target};

/// Most the sidecar's RSS may grow while it stores 1 GiB of stream (issue 20).
const RSS_GROWTH_MIB: f64 = 16.0;

/// How many bytes a run streams: 1 GiB, 64 MiB for `--quick`.
pub(crate) fn total(quick: bool) -> u64 {
    if quick {
        64 << 20
    } else {
        1 << 30
    }
}

/// The SQLite store's rows: the stream next to a file write of the same bytes (fsync at
/// the end), and the RSS growth.
pub(crate) fn sqlite_rows(
    sc: &cronium_testkit::Sidecar,
    token: &str,
    dir: &Path,
    quick: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let block = load::ndjson_block(64 << 10);
    let r = load::output_stream(&sc.socket, token, crate::sc_pid(sc)?, &block, total(quick))?;
    let file_took = load::file_write(&dir.join("baseline.ndjson"), &block, r.bytes)?;
    push(
        rows,
        "SQLite",
        &r,
        ("the same bytes to a file, fsync at the end", file_took),
    );
    Ok(())
}

/// The PostgreSQL store's rows: the stream through a sidecar on the store at `url`, next
/// to a plain `COPY ... FROM STDIN` of the same bytes (one row per NDJSON line, like a
/// loader would) into a table with the store's columns, committed.
pub(crate) fn postgres_rows(
    sc: &cronium_testkit::Sidecar,
    token: &str,
    url: &str,
    quick: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let block = load::ndjson_block(64 << 10);
    let r = load::output_stream(&sc.socket, token, crate::sc_pid(sc)?, &block, total(quick))?;
    let copy_took = copy_baseline(url, &block, r.bytes)?;
    push(
        rows,
        "PostgreSQL",
        &r,
        (
            "plain COPY FROM STDIN of the same bytes, a row per line",
            copy_took,
        ),
    );
    Ok(())
}

/// The two rows of one store: throughput against the baseline, and RSS growth.
fn push(rows: &mut Vec<Row>, store: &str, r: &load::StreamResult, base: (&str, Duration)) {
    let mb = r.bytes as f64 / 1e6;
    rows.push(Row {
        figure: format!(
            "output stream ({store}): {} MiB of NDJSON into durable storage",
            r.bytes >> 20
        ),
        unit: "MB/s",
        median: mb / r.took.as_secs_f64(),
        baseline: Some((base.0.into(), mb / base.1.as_secs_f64())),
        target: Some(Target::MinRatio(0.5)),
        ..Row::default()
    });
    rows.push(Row {
        figure: format!("sidecar RSS growth during the output stream ({store}, peak − before)"),
        unit: "MiB",
        median: (r.rss_peak_kib - r.rss_before_kib).max(0.0) / 1024.0,
        baseline: Some(("RSS before".into(), r.rss_before_kib / 1024.0)),
        target: Some(Target::Max(RSS_GROWTH_MIB)),
        ..Row::default()
    });
}

/// The figure names, for the rows a run without PostgreSQL marks skipped.
pub(crate) fn postgres_skipped(why: &str, rows: &mut Vec<Row>) {
    for (figure, unit, target) in [
        (
            "output stream (PostgreSQL) into durable storage",
            "MB/s",
            Target::MinRatio(0.5),
        ),
        (
            "sidecar RSS growth during the output stream (PostgreSQL, peak − before)",
            "MiB",
            Target::Max(RSS_GROWTH_MIB),
        ),
    ] {
        rows.push(Row {
            figure: figure.into(),
            unit,
            target: Some(target),
            skipped: Some(format!("no PostgreSQL server: {why}")),
            ..Row::default()
        });
    }
}

/// `COPY bench_stream_copy (execution_id, direction, line) FROM STDIN` of `total` bytes of
/// `block` repeated, in 64 KiB messages, committed: the time it took.
fn copy_baseline(url: &str, block: &[u8], total: u64) -> Result<Duration, String> {
    use futures_util::SinkExt;
    // Text COPY: each NDJSON line becomes `execution-id TAB 1 TAB line`. The generated
    // lines hold no backslash or tab, so they travel unescaped, byte for byte.
    let mut rows = Vec::with_capacity(block.len() * 2);
    for line in block.split_inclusive(|&b| b == b'\n') {
        rows.extend_from_slice(b"bench\t1\t");
        rows.extend_from_slice(line);
    }
    let rows = bytes::Bytes::from(rows);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (mut c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        c.batch_execute(
            "CREATE TABLE bench_stream_copy (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             execution_id TEXT NOT NULL, direction SMALLINT NOT NULL, line TEXT NOT NULL)",
        )
        .await
        .map_err(|e| e.to_string())?;
        let start = Instant::now();
        let tx = c.transaction().await.map_err(|e| e.to_string())?;
        let sink = tx
            .copy_in("COPY bench_stream_copy (execution_id, direction, line) FROM STDIN")
            .await
            .map_err(|e| e.to_string())?;
        futures_util::pin_mut!(sink);
        let mut sent = 0u64;
        while sent < total {
            sink.feed(rows.clone()).await.map_err(|e| e.to_string())?;
            sent += block.len() as u64;
        }
        sink.as_mut().finish().await.map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        let took = start.elapsed();
        c.batch_execute("DROP TABLE bench_stream_copy")
            .await
            .map_err(|e| e.to_string())?;
        Ok(took)
    })
}
