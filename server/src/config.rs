//! The settings the server's parts are built from: where the store is, how tokens are
//! signed, the tool engine's settings, the request limits. Each part owns its own type
//! ([`AuthConfig`], [`ToolsConfig`], [`Sync`]); these aggregate them. Reading them from
//! flags, environment and file is the CLI's business.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthConfig;
use cronium_store::sqlite::Sync;
use cronium_tools::ToolsConfig;

/// A configuration problem, reported as one line and exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body (and largest NDJSON line).
    pub body_bytes: usize,
    /// Most connections open at once; more get 503 `overloaded`.
    pub max_connections: usize,
    /// Requests per second per execution (token bucket refill); 0 disables.
    pub rate_per_sec: f64,
    /// Bucket size.
    pub rate_burst: f64,
    /// Time a client gets to send its request headers.
    pub header_read_timeout: Duration,
    /// Time a client gets to send a whole JSON body, and the longest a stream body may
    /// send nothing: a client trickling a body would otherwise hold a connection slot for
    /// ever.
    pub body_read_timeout: Duration,
    /// How often the store's change log is read for other processes' changes; `None`
    /// chooses by store: [`crate::state::POLL_INTERVAL`] for SQLite,
    /// [`crate::state::PUSHED_POLL_INTERVAL`] where the store pushes change signals.
    pub change_poll_interval: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 10 * 1024 * 1024,
            max_connections: 4096,
            rate_per_sec: 10_000.0,
            rate_burst: 10_000.0,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            change_poll_interval: None,
        }
    }
}

/// What everything that touches the store needs: where it is and how to sign tokens.
#[derive(Debug)]
pub struct CoreConfig {
    /// State directory.
    pub state_dir: PathBuf,
    /// SQLite file (unused when `database` names PostgreSQL).
    pub db_path: PathBuf,
    /// The shared PostgreSQL store, when configured (`[storage] url`,
    /// `CRONIUM_DATABASE_URL`); `None` keeps the embedded SQLite store.
    pub database: Option<cronium_store::postgres::PgSettings>,
    /// Commit durability.
    pub sync: Sync,
    /// Token verification and minting.
    pub auth: AuthConfig,
    /// Lifetime of a minted (or refreshed) token; never past the execution's maximum.
    pub token_ttl: Duration,
    /// Tool actions and their credentials.
    pub tools: ToolsConfig,
    /// What retention prunes (`[retention]`): `cronium gc` and the sidecar's background
    /// pruning.
    pub retention: cronium_store::Retention,
    /// How often a sidecar prunes in the background; `None` leaves it to `cronium gc`.
    pub retention_interval: Option<Duration>,
}

/// Longest duration a setting takes: ten years. Anything longer is a typo, and a deadline
/// that far out would overflow the clock arithmetic of the timers it sets.
const MAX_DURATION: Duration = Duration::from_secs(3650 * 86400);

/// Parses `500ms`, `30s`, `15m`, `2h`, `1d`, or plain seconds (at most ten years).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        ConfigError(format!(
            "{s:?} is not a duration; use e.g. 500ms, 30s, 15m, 2h"
        ))
    })?;
    let secs_per = match unit.trim() {
        "ms" => None,
        "" | "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        "d" => Some(86400),
        _ => {
            return err(format!(
                "{s:?} is not a duration; use e.g. 500ms, 30s, 15m, 2h"
            ))
        }
    };
    let d = match secs_per {
        None => Some(Duration::from_millis(n)),
        Some(per) => n.checked_mul(per).map(Duration::from_secs),
    };
    match d {
        Some(d) if d <= MAX_DURATION => Ok(d),
        _ => err(format!(
            "{s:?} is too long a duration; at most ten years (3650d)"
        )),
    }
}

/// Parses `10MiB`, `512KiB`, `1GiB`, `10M`, `10k` or plain bytes.
pub fn parse_size(s: &str) -> Result<usize, ConfigError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| ConfigError(format!("{s:?} is not a size; use e.g. 10MiB or 65536")))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return err(format!("{s:?} is not a size; use e.g. 10MiB or 65536")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| ConfigError(format!("{s:?} is too large a size for this machine")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_duration(" 2h ").ok(), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("3650d").ok(), Some(MAX_DURATION));
        assert_eq!(parse_size("10MiB").ok(), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("65536").ok(), Some(65536));
        assert!(parse_size("10 parsecs").is_err());
    }

    /// Found by the `config` fuzz target: a huge number times its unit overflowed
    /// (a panic in debug builds, a silently wrapped limit in release builds).
    #[test]
    fn huge_values_are_refused_not_wrapped() {
        let e = parse_size("5555555555555555gb").expect_err("overflow");
        assert!(e.0.contains("too large"), "{e}");
        assert!(parse_size(&format!("{}k", usize::MAX)).is_err());
        for d in [
            "213503982334601d",
            "18446744073709551615h",
            "3651d",
            "99999999999999m",
        ] {
            let e = parse_duration(d).expect_err(d);
            assert!(e.0.contains("too long"), "{d}: {e}");
        }
        // Milliseconds never overflow, but more than ten years of them are refused too.
        assert!(parse_duration("18446744073709551615ms").is_err());
    }
}
