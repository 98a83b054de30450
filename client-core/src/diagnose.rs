//! A binding's self-check (`python -m cronium info`): what a client made from this
//! environment would use and whether the runtime answers, computed here once so every
//! binding reports the same thing. The token is only ever reported as set or not.

use std::time::Duration;

use crate::config::{Config, Endpoint, ENV_EXECUTION_ID, ENV_TOKEN};
use crate::error::Result;
use crate::BlockingClient;

/// How long the health probe waits: a diagnosis must not hang on a dead socket.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a client made from the environment would do.
#[derive(Debug)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The transport the environment selects, or why there is none.
    pub endpoint: Result<Endpoint>,
    /// Whether `CRONIUM_EXECUTION_TOKEN` is set (its value is never reported).
    pub token_set: bool,
    /// `CRONIUM_EXECUTION_ID`, when set.
    pub execution_id: Option<String>,
    /// `GET /health` on the endpoint: `None` when there is no endpoint to ask.
    pub health: Option<Result<()>>,
}

impl Diagnosis {
    /// Diagnoses the process environment.
    pub fn from_env() -> Diagnosis {
        Diagnosis::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Diagnosis::from_env`] over any lookup function.
    pub fn from_lookup<F>(lookup: F) -> Diagnosis
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let endpoint = Endpoint::from_lookup(&lookup);
        let token = get(ENV_TOKEN);
        let health = endpoint.as_ref().ok().map(|e| probe(e, token.as_deref()));
        Diagnosis {
            endpoint,
            token_set: token.is_some(),
            execution_id: get(ENV_EXECUTION_ID),
            health,
        }
    }
}

/// `GET /health` once, no retries. The route needs no token; a placeholder stands in when
/// none is set (or the one set is not a valid header value), so the answer says whether
/// the sidecar is there, not whether the token is good.
fn probe(endpoint: &Endpoint, token: Option<&str>) -> Result<()> {
    let config = |token: &str| {
        let mut b = Config::builder()
            .token(token)
            .timeout(PROBE_TIMEOUT)
            .max_retries(0);
        b.endpoint = Some(endpoint.clone());
        b.build()
    };
    let config = match token.map(config) {
        Some(Ok(c)) => c,
        _ => config("diagnose")?,
    };
    BlockingClient::new(config)?.health()
}
