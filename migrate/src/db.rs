//! Database mode: `cronium migrate --database URL` rewrites the script column of Cronium's
//! events table (SQLite file or PostgreSQL) in one transaction, after copying every row it
//! changes into a backup table (`<table>_migrate_backup`: event id, old script, time).

use std::io::Write;
use std::sync::Arc;

use crate::files::{migrate_one, Summary, UsageError};
use crate::{language_of_event_type, Options};

/// Where the scripts are.
#[derive(Clone, Debug)]
pub struct Target {
    /// A SQLite file path (or `sqlite:PATH`) or a `postgres://` URL. `sslmode=require` in a
    /// PostgreSQL URL turns TLS on; the password comes from the URL or `PGPASSWORD`.
    pub url: String,
    /// The events table (Cronium: `events`).
    pub table: String,
    /// The script column (Cronium: `content`).
    pub column: String,
    /// The language column (Cronium: `type`, values `PYTHON`, `NODEJS`, `BASH`).
    pub language_column: String,
    /// The id column (Cronium: `id`).
    pub id_column: String,
}

impl Target {
    fn backup_table(&self) -> String {
        format!("{}_migrate_backup", self.table)
    }
}

/// One event row.
struct Row {
    id: String,
    language: Option<String>,
    content: Option<String>,
}

/// A change to store.
struct Update {
    id: String,
    old: String,
    new: String,
}

fn usage(m: impl Into<String>) -> UsageError {
    UsageError(m.into())
}

/// An SQL identifier, quoted; only plain names are accepted, so nothing from the command
/// line can change the statement.
fn ident(name: &str, what: &str) -> Result<String, UsageError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(format!("\"{name}\""))
    } else {
        Err(usage(format!(
            "--{what} {name:?}: give a plain table or column name (letters, digits, _)"
        )))
    }
}

/// Migrates every script of the table. Bad URL, missing table or column: an error, nothing
/// written. `dry_run` prints a diff per event id and writes nothing.
pub fn migrate_database(
    target: &Target,
    options: Options,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Summary, UsageError> {
    ident(&target.table, "table")?;
    ident(&target.column, "column")?;
    ident(&target.language_column, "language-column")?;
    ident(&target.id_column, "id-column")?;
    let mut store: Box<dyn Db> =
        if target.url.starts_with("postgres://") || target.url.starts_with("postgresql://") {
            Box::new(Pg::connect(&target.url)?)
        } else {
            Box::new(Lite::open(
                target.url.strip_prefix("sqlite:").unwrap_or(&target.url),
            )?)
        };
    let columns = store.columns(&target.table)?;
    if columns.is_empty() {
        return Err(usage(format!(
            "the database has no table {:?}: name Cronium's events table with --table",
            target.table
        )));
    }
    for (c, flag) in [
        (&target.column, "--column"),
        (&target.language_column, "--language-column"),
        (&target.id_column, "--id-column"),
    ] {
        if !columns.iter().any(|x| x == c) {
            return Err(usage(format!(
                "table {:?} has no column {c:?}: name it with {flag} (columns: {})",
                target.table,
                columns.join(", ")
            )));
        }
    }
    let rows = store.rows(target)?;
    let mut summary = Summary::default();
    let mut updates = Vec::new();
    for row in rows {
        let (Some(content), Some(language)) = (
            row.content,
            row.language.as_deref().and_then(language_of_event_type),
        ) else {
            continue;
        };
        summary.scanned += 1;
        let place = format!("event {}", row.id);
        let mut new = None;
        migrate_one(
            &place,
            language,
            &content,
            options,
            dry_run,
            out,
            &mut summary,
            |t| {
                new = Some(t.to_owned());
                Ok(())
            },
        );
        if let Some(new) = new {
            updates.push(Update {
                id: row.id,
                old: content,
                new,
            });
        }
    }
    if !dry_run && !updates.is_empty() {
        store.apply(target, &updates)?;
        let _ = writeln!(
            out,
            "backed up {} row(s) to {} before changing them",
            updates.len(),
            target.backup_table()
        );
    }
    Ok(summary)
}

trait Db {
    /// The table's columns; empty when there is no such table.
    fn columns(&mut self, table: &str) -> Result<Vec<String>, UsageError>;
    fn rows(&mut self, target: &Target) -> Result<Vec<Row>, UsageError>;
    /// Backup then update, in one transaction.
    fn apply(&mut self, target: &Target, updates: &[Update]) -> Result<(), UsageError>;
}

struct Lite(rusqlite::Connection);

impl Lite {
    fn open(path: &str) -> Result<Self, UsageError> {
        if !std::path::Path::new(path).is_file() {
            return Err(usage(format!(
                "{path}: no such SQLite file; give the database file's path or a postgres:// URL"
            )));
        }
        let c = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
        )
        .map_err(|e| usage(format!("{path}: cannot open the SQLite database: {e}")))?;
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| usage(format!("{path}: {e}")))?;
        Ok(Self(c))
    }
}

impl Db for Lite {
    fn columns(&mut self, table: &str) -> Result<Vec<String>, UsageError> {
        let sql = format!("PRAGMA table_info({})", ident(table, "table")?);
        let mut stmt = self
            .0
            .prepare(&sql)
            .map_err(|e| usage(format!("cannot read the database: {e}")))?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(1))
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| usage(format!("cannot read the database: {e}")))?;
        Ok(names)
    }

    fn rows(&mut self, t: &Target) -> Result<Vec<Row>, UsageError> {
        let sql = format!(
            "SELECT CAST({id} AS TEXT), CAST({lang} AS TEXT), {col} FROM {table} ORDER BY {id}",
            id = ident(&t.id_column, "id-column")?,
            lang = ident(&t.language_column, "language-column")?,
            col = ident(&t.column, "column")?,
            table = ident(&t.table, "table")?,
        );
        let mut stmt = self
            .0
            .prepare(&sql)
            .map_err(|e| usage(format!("cannot read {}: {e}", t.table)))?;
        stmt.query_map([], |r| {
            Ok(Row {
                id: r.get(0)?,
                language: r.get(1)?,
                content: r.get(2)?,
            })
        })
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| usage(format!("cannot read {}: {e}", t.table)))
    }

    fn apply(&mut self, t: &Target, updates: &[Update]) -> Result<(), UsageError> {
        let fail = |e: rusqlite::Error| usage(format!("nothing written: {e}"));
        let backup = ident(&t.backup_table(), "table")?;
        let tx = self.0.transaction().map_err(fail)?;
        tx.execute(
            &format!("CREATE TABLE IF NOT EXISTS {backup} (event_id TEXT NOT NULL, content TEXT, backed_up_at TEXT NOT NULL)"),
            [],
        )
        .map_err(fail)?;
        let update = format!(
            "UPDATE {table} SET {col} = ?1 WHERE CAST({id} AS TEXT) = ?2 AND {col} = ?3",
            table = ident(&t.table, "table")?,
            col = ident(&t.column, "column")?,
            id = ident(&t.id_column, "id-column")?,
        );
        for u in updates {
            tx.execute(
                &format!("INSERT INTO {backup} (event_id, content, backed_up_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"),
                rusqlite::params![u.id, u.old],
            )
            .map_err(fail)?;
            let n = tx
                .execute(&update, rusqlite::params![u.new, u.id, u.old])
                .map_err(fail)?;
            if n != 1 {
                return Err(usage(format!(
                    "nothing written: event {} changed while migrating; run again",
                    u.id
                )));
            }
        }
        tx.commit().map_err(fail)
    }
}

struct Pg {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Pg {
    fn connect(url: &str) -> Result<Self, UsageError> {
        let shown = redact(url);
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| usage(format!("{shown}: not a valid postgres:// URL")))?;
        if config.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                config.password(p);
            }
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| usage(format!("cannot start: {e}")))?;
        let tls = config.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
        let connected = rt.block_on(async {
            if tls {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
                let (client, conn) = config
                    .connect(tokio_postgres_rustls::MakeRustlsConnect::new(cfg))
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Ok::<_, String>(client)
            } else {
                let (client, conn) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Ok(client)
            }
        });
        let client = connected.map_err(|e| usage(format!("cannot connect to {shown}: {e}")))?;
        Ok(Self { rt, client })
    }
}

impl Db for Pg {
    fn columns(&mut self, table: &str) -> Result<Vec<String>, UsageError> {
        let rows = self
            .rt
            .block_on(self.client.query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = ANY(current_schemas(false)) ORDER BY ordinal_position",
                &[&table],
            ))
            .map_err(|e| usage(format!("cannot read the database: {e}")))?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    fn rows(&mut self, t: &Target) -> Result<Vec<Row>, UsageError> {
        let sql = format!(
            "SELECT {id}::text, {lang}::text, {col}::text FROM {table} ORDER BY {id}",
            id = ident(&t.id_column, "id-column")?,
            lang = ident(&t.language_column, "language-column")?,
            col = ident(&t.column, "column")?,
            table = ident(&t.table, "table")?,
        );
        let rows = self
            .rt
            .block_on(self.client.query(&sql, &[]))
            .map_err(|e| usage(format!("cannot read {}: {e}", t.table)))?;
        Ok(rows
            .iter()
            .map(|r| Row {
                id: r.get(0),
                language: r.get(1),
                content: r.get(2),
            })
            .collect())
    }

    fn apply(&mut self, t: &Target, updates: &[Update]) -> Result<(), UsageError> {
        let backup = ident(&t.backup_table(), "table")?;
        let update = format!(
            "UPDATE {table} SET {col} = $1 WHERE {id}::text = $2 AND {col} = $3",
            table = ident(&t.table, "table")?,
            col = ident(&t.column, "column")?,
            id = ident(&t.id_column, "id-column")?,
        );
        let client = &mut self.client;
        self.rt.block_on(async {
            let fail = |e: tokio_postgres::Error| usage(format!("nothing written: {e}"));
            let tx = client.transaction().await.map_err(fail)?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {backup} (event_id text NOT NULL, content text, backed_up_at timestamptz NOT NULL DEFAULT now())"
            ))
            .await
            .map_err(fail)?;
            let insert = format!("INSERT INTO {backup} (event_id, content) VALUES ($1, $2)");
            for u in updates {
                tx.execute(&insert, &[&u.id, &u.old]).await.map_err(fail)?;
                let n = tx.execute(&update, &[&u.new, &u.id, &u.old]).await.map_err(fail)?;
                if n != 1 {
                    return Err(usage(format!("nothing written: event {} changed while migrating; run again", u.id)));
                }
            }
            tx.commit().await.map_err(fail)
        })
    }
}
