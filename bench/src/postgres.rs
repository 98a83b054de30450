//! The PostgreSQL store's rows: the durable write next to the same upsert from a plain
//! tokio-postgres client, cached reads next to a SQLite sidecar's, and how soon a change
//! made through one sidecar reaches a watcher on another. The database is a throwaway
//! server (`TempPostgres`); without PostgreSQL's binaries the rows say skipped and why.

use std::path::Path;
use std::time::{Duration, Instant};

use cronium_store::temp_postgres::TempPostgres;
use cronium_testkit::{Options, Sidecar};
use serde_json::json;

use crate::{time_n, Row, Series, Target, SECRET};

const SET: &str = "PostgreSQL store: client-core durable set_variable";
const SET_FULL: &str = "PostgreSQL store: client-core durable set_variable (same durable work)";
const GET: &str = "PostgreSQL store: client-core cached get_variable";
const WATCH: &str = "PostgreSQL store: change through one sidecar seen by a watcher on another";

/// Appends the PostgreSQL rows (skipped ones when no server can be started).
pub(crate) fn rows(
    cronium: &Path,
    dir: &Path,
    rounds: usize,
    per_round: usize,
    quick: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let pg = match TempPostgres::start() {
        Ok(pg) => pg,
        Err(why) => {
            for (figure, target) in [
                (SET, Target::Ratio(1.5)),
                (SET_FULL, Target::Ratio(1.5)),
                (GET, Target::Ratio(1.1)),
                (WATCH, Target::Max(20_000.0)),
            ] {
                rows.push(Row {
                    figure: figure.into(),
                    unit: "µs",
                    target: Some(target),
                    skipped: Some(format!("no PostgreSQL server: {why}")),
                    ..Row::default()
                });
            }
            crate::stream::postgres_skipped(&why, rows);
            return Ok(());
        }
    };
    let url = pg.url();
    let start = |name: &str, database: bool| {
        let mut env = vec![("CRONIUM_RATE_LIMIT".to_owned(), "0".to_owned())];
        if database {
            env.push(("CRONIUM_DATABASE_URL".to_owned(), url.clone()));
        }
        Sidecar::start_with(Options {
            cronium: cronium.to_owned(),
            state_dir: Some(dir.join(format!("pg-{name}"))),
            socket_name: format!("{name}.sock"),
            secret: SECRET.to_owned(),
            env,
            tcp: false,
            ..Options::default()
        })
        .map_err(|e| format!("cannot start a sidecar: {e}"))
    };
    let (a, b, lite) = (start("a", true)?, start("b", true)?, start("lite", false)?);
    let flags = ["--user", "bench", "--ttl", "2h"];
    let token = a
        .create_with_flags(&flags, &[("CRONIUM_DATABASE_URL", url.as_str())])
        .map_err(|e| e.to_string())?
        .token;
    let lite_token = lite
        .create_with_flags(&flags, &[])
        .map_err(|e| e.to_string())?
        .token;
    let client = |sc: &Sidecar, token: &str| {
        cronium_client::BlockingClient::new(
            cronium_client::Config::builder()
                .socket(&sc.socket)
                .token(token)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())
    };
    let (on_a, on_b, on_lite) = (
        client(&a, &token)?,
        client(&b, &token)?,
        client(&lite, &lite_token)?,
    );
    let value = json!({"n": 1, "s": "payload"});
    for c in [&on_a, &on_lite] {
        c.set_variable("bench", &value, None)
            .map_err(|e| e.to_string())?;
    }

    // The baseline of the durable write: the same upsert of the same row, committed, from
    // a plain client on its own connection.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let plain = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        c.batch_execute(
            "CREATE TABLE bench_plain (user_id TEXT, key TEXT, value TEXT NOT NULL, \
             version BIGINT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (user_id, key))",
        )
        .await
        .map_err(|e| e.to_string())?;
        let st = c
            .prepare(
                "INSERT INTO bench_plain (user_id, key, value, version, updated_at) \
                 VALUES ('bench', 'bench_set', $1, 1, $2) ON CONFLICT (user_id, key) DO UPDATE \
                 SET value = excluded.value, version = bench_plain.version + 1, \
                 updated_at = excluded.updated_at",
            )
            .await
            .map_err(|e| e.to_string())?;
        // The same durable work as the store's write, the plain way: one transaction that
        // takes the next change-log position, upserts, logs the change and audits it.
        c.batch_execute(
            "CREATE TABLE bench_counter (one BOOLEAN PRIMARY KEY, seq BIGINT NOT NULL); \
             INSERT INTO bench_counter VALUES (TRUE, 0); \
             CREATE TABLE bench_changes (seq BIGINT PRIMARY KEY, user_id TEXT, key TEXT, \
             value TEXT, version BIGINT, updated_at TEXT); \
             CREATE TABLE bench_audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             at TEXT, execution_id TEXT, user_id TEXT, action TEXT, target TEXT)",
        )
        .await
        .map_err(|e| e.to_string())?;
        let (c2, conn2) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn2);
        let mut full = Vec::new();
        for sql in [
            "UPDATE bench_counter SET seq = seq + 1 RETURNING seq",
            "INSERT INTO bench_plain (user_id, key, value, version, updated_at) \
             VALUES ('bench', 'bench_full', $1, 1, $2) ON CONFLICT (user_id, key) DO UPDATE \
             SET value = excluded.value, version = bench_plain.version + 1, \
             updated_at = excluded.updated_at RETURNING version",
            "INSERT INTO bench_changes VALUES ($1, 'bench', 'bench_full', $2, $3, $4)",
            "INSERT INTO bench_audit (at, execution_id, user_id, action, target) \
             VALUES ($1, 'e', 'bench', 'variable.set', 'bench_full')",
        ] {
            full.push(c2.prepare(sql).await.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>((c, st, c2, full))
    })?;
    let (plain, upsert, mut plain_tx, full) = plain;
    let at = "2026-01-01T00:00:00.000Z";
    let mut full_write = |v: &str| -> Result<(), tokio_postgres::Error> {
        rt.block_on(async {
            let tx = plain_tx.transaction().await?;
            let seq: i64 = tx.query_one(&full[0], &[]).await?.get(0);
            let version: i64 = tx.query_one(&full[1], &[&v, &at]).await?.get(0);
            tx.execute(&full[2], &[&seq, &v, &version, &at]).await?;
            tx.execute(&full[3], &[&at]).await?;
            tx.commit().await
        })
    };

    let mut failures = 0usize;
    let mut set_s = Series::default();
    let mut plain_s = Series::default();
    let mut full_s = Series::default();
    let mut get_s = Series::default();
    let mut lite_s = Series::default();
    for _ in 0..rounds {
        let mut i = 0u64;
        set_s.add_round(time_n(per_round / 4, || {
            i += 1;
            if on_a.set_variable("bench_set", &i, None).is_err() {
                failures += 1;
            }
        }));
        plain_s.add_round(time_n(per_round / 4, || {
            i += 1;
            let v = i.to_string();
            if rt.block_on(plain.execute(&upsert, &[&v, &at])).is_err() {
                failures += 1;
            }
        }));
        full_s.add_round(time_n(per_round / 4, || {
            i += 1;
            if full_write(&i.to_string()).is_err() {
                failures += 1;
            }
        }));
        // Reads in the steady state: every write above woke the sidecars' change-log
        // readers, which are done within milliseconds; the reads are not to pay for them.
        std::thread::sleep(Duration::from_millis(200));
        get_s.add_round(time_n(per_round, || {
            if on_a.get_variable::<serde_json::Value>("bench").is_err() {
                failures += 1;
            }
        }));
        lite_s.add_round(time_n(per_round, || {
            if on_lite.get_variable::<serde_json::Value>("bench").is_err() {
                failures += 1;
            }
        }));
    }

    // A watcher on b; writes through a. Each sample: the write's start to the change's
    // arrival at the watcher.
    let mut changes = on_b
        .watch_variable::<serde_json::Value>("watched")
        .map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for ch in changes.by_ref() {
            if ch.is_err() || tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    let mut watch_s = Series::default();
    for _ in 0..rounds {
        let mut round = Vec::new();
        for i in 0..(per_round / 20).max(20) {
            let t = Instant::now();
            if on_a.set_variable("watched", &i, None).is_err() {
                failures += 1;
                continue;
            }
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(at) => round.push(at.duration_since(t)),
                Err(_) => return Err("a change never reached the other sidecar's watcher".into()),
            }
        }
        watch_s.add_round(round);
    }
    if failures > 0 {
        return Err(format!("{failures} calls on the PostgreSQL store failed"));
    }
    rows.push(
        Row::latency(
            SET.into(),
            &set_s,
            Some((
                "plain tokio-postgres upsert".into(),
                crate::us(plain_s.median()),
            )),
            Some(Target::Ratio(1.5)),
        )
        .paired(&set_s.round_medians, &plain_s.round_medians),
    );
    rows.push(
        Row::latency(
            SET_FULL.into(),
            &set_s,
            Some((
                "plain tokio-postgres transaction doing the same writes".into(),
                crate::us(full_s.median()),
            )),
            Some(Target::Ratio(1.5)),
        )
        .paired(&set_s.round_medians, &full_s.round_medians),
    );
    rows.push(
        Row::latency(
            GET.into(),
            &get_s,
            Some((
                "the same on the SQLite store".into(),
                crate::us(lite_s.median()),
            )),
            Some(Target::Ratio(1.1)),
        )
        .paired(&get_s.round_medians, &lite_s.round_medians),
    );
    rows.push(Row::latency(
        WATCH.into(),
        &watch_s,
        None,
        Some(Target::Max(20_000.0)),
    ));
    drop((a, b, lite));
    stream_on(cronium, dir, &url, quick, rows)
}

/// The output stream's PostgreSQL rows alone (`--only stream`), on a server of their own.
pub(crate) fn stream_rows(
    cronium: &Path,
    dir: &Path,
    quick: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    match TempPostgres::start() {
        Ok(pg) => stream_on(cronium, dir, &pg.url(), quick, rows),
        Err(why) => {
            crate::stream::postgres_skipped(&why, rows);
            Ok(())
        }
    }
}

/// The output stream through a sidecar of its own on the store at `url`.
fn stream_on(
    cronium: &Path,
    dir: &Path,
    url: &str,
    quick: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let sc = Sidecar::start_with(Options {
        cronium: cronium.to_owned(),
        state_dir: Some(dir.join("pg-stream")),
        socket_name: "pg-stream.sock".into(),
        secret: SECRET.to_owned(),
        env: vec![
            ("CRONIUM_RATE_LIMIT".to_owned(), "0".to_owned()),
            ("CRONIUM_DATABASE_URL".to_owned(), url.to_owned()),
        ],
        tcp: false,
        ..Options::default()
    })
    .map_err(|e| format!("cannot start a sidecar: {e}"))?;
    let token = sc
        .create_with_flags(
            &["--user", "bench", "--ttl", "2h"],
            &[("CRONIUM_DATABASE_URL", url)],
        )
        .map_err(|e| e.to_string())?
        .token;
    crate::stream::postgres_rows(&sc, &token, url, quick, rows)
}
