//! The output stream's rows: NDJSON posted to `/v1/output/stream` into durable storage,
//! on the SQLite store next to writing the same bytes to a file, and on the PostgreSQL
//! store next to a plain `COPY` of the same bytes; with the sidecar's RSS growth meanwhile.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{load, Row, Target};

/// Most the sidecar's RSS may grow while it stores 1 GiB of stream (issue 20).
const RSS_GROWTH_MIB: f64 = 16.0;

/// How many bytes a run streams: 1 GiB, 64 MiB for `--quick`, or
/// `CRONIUM_BENCH_STREAM_MIB` MiB (a profile under callgrind wants a few).
pub(crate) fn total(quick: bool) -> u64 {
    if let Some(mib) = std::env::var("CRONIUM_BENCH_STREAM_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        mib << 20
    } else if quick {
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
/// to a plain binary `COPY ... FROM STDIN` of the same bytes in blocks of the store's size
/// into a table of the store's shape, committed (the target), and, for scale, next to a
/// `COPY` of the same NDJSON as one row per line, the way a loader would put it in.
pub(crate) fn postgres_rows(
    sc: &cronium_testkit::Sidecar,
    token: &str,
    url: &str,
    quick: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let block = load::ndjson_block(64 << 10);
    let r = load::output_stream(&sc.socket, token, crate::sc_pid(sc)?, &block, total(quick))?;
    let blocks_took = copy_baseline(url, &block, r.bytes, Copy::Blocks)?;
    let lines_took = copy_baseline(url, &block, r.bytes, Copy::Lines)?;
    push(
        rows,
        "PostgreSQL",
        &r,
        (
            "plain binary COPY FROM STDIN of the same bytes, 256 KiB bytea rows",
            blocks_took,
        ),
    );
    let mb = r.bytes as f64 / 1e6;
    rows.push(Row {
        figure: format!(
            "output stream (PostgreSQL): {} MiB of NDJSON, next to a COPY of a row per line",
            r.bytes >> 20
        ),
        unit: "MB/s",
        median: mb / r.took.as_secs_f64(),
        baseline: Some((
            "plain COPY FROM STDIN of the same lines, a row per line".into(),
            mb / lines_took.as_secs_f64(),
        )),
        ..Row::default()
    });
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

/// What a `COPY` baseline loads.
#[derive(Clone, Copy)]
enum Copy {
    /// The bytes in rows of 256 KiB (`bytea`, stored uncompressed like the store's), in
    /// COPY's binary format: the store's table shape and block size.
    Blocks,
    /// One text row per NDJSON line.
    Lines,
}

/// A `COPY ... FROM STDIN` of `total` bytes of `block` repeated into a fresh table,
/// committed: the time it took.
fn copy_baseline(url: &str, block: &[u8], total: u64, how: Copy) -> Result<Duration, String> {
    use futures_util::SinkExt;
    let (create, copy) = match how {
        Copy::Blocks => (
            "CREATE TABLE bench_stream_copy (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             execution_id TEXT NOT NULL, direction SMALLINT NOT NULL, data BYTEA NOT NULL); \
             ALTER TABLE bench_stream_copy ALTER COLUMN data SET STORAGE EXTERNAL",
            "COPY bench_stream_copy (execution_id, direction, data) FROM STDIN (FORMAT binary)",
        ),
        Copy::Lines => (
            "CREATE TABLE bench_stream_copy (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             execution_id TEXT NOT NULL, direction SMALLINT NOT NULL, line TEXT NOT NULL)",
            "COPY bench_stream_copy (execution_id, direction, line) FROM STDIN",
        ),
    };
    // The messages sent, each `per` bytes of the stream.
    let (messages, per): (Vec<bytes::Bytes>, u64) = match how {
        Copy::Blocks => {
            // Binary COPY: a signature, then per row the field count and each field's
            // length and bytes, then -1.
            let rows_per = 4; // 4 × 64 KiB = 256 KiB a row, the store's block
            let mut row = Vec::with_capacity(block.len() * rows_per + 64);
            row.extend_from_slice(&3i16.to_be_bytes());
            for (field, len) in [(&b"bench"[..], 5i32), (&1i16.to_be_bytes()[..], 2)] {
                row.extend_from_slice(&len.to_be_bytes());
                row.extend_from_slice(field);
            }
            row.extend_from_slice(&((block.len() * rows_per) as i32).to_be_bytes());
            for _ in 0..rows_per {
                row.extend_from_slice(block);
            }
            let mut head = b"PGCOPY\n\xff\r\n\0".to_vec();
            head.extend_from_slice(&[0; 8]);
            let msgs = vec![
                bytes::Bytes::from(head),
                bytes::Bytes::from(row),
                bytes::Bytes::from_static(&[0xff, 0xff]),
            ];
            (msgs, (block.len() * rows_per) as u64)
        }
        Copy::Lines => {
            // Text COPY: each NDJSON line becomes `execution-id TAB 1 TAB line`. The
            // generated lines hold no backslash or tab, so they travel unescaped.
            let mut rows = Vec::with_capacity(block.len() * 2);
            for line in block.split_inclusive(|&b| b == b'\n') {
                rows.extend_from_slice(b"bench\t1\t");
                rows.extend_from_slice(line);
            }
            (vec![bytes::Bytes::from(rows)], block.len() as u64)
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (mut c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        c.batch_execute(create).await.map_err(|e| e.to_string())?;
        let start = Instant::now();
        let tx = c.transaction().await.map_err(|e| e.to_string())?;
        let sink = tx.copy_in(copy).await.map_err(|e| e.to_string())?;
        futures_util::pin_mut!(sink);
        let (head, body, tail) = match how {
            Copy::Blocks => (Some(&messages[0]), &messages[1], Some(&messages[2])),
            Copy::Lines => (None, &messages[0], None),
        };
        if let Some(h) = head {
            sink.feed(h.clone()).await.map_err(|e| e.to_string())?;
        }
        let mut sent = 0u64;
        while sent < total {
            sink.feed(body.clone()).await.map_err(|e| e.to_string())?;
            sent += per;
        }
        if let Some(t) = tail {
            sink.feed(t.clone()).await.map_err(|e| e.to_string())?;
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
