//! What the fuzz targets share: an in-process sidecar (the real routes over a real SQLite
//! store in a temp dir, no socket) with one execution and its token, built once per
//! fuzzing process.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cronium_server::auth::{AuthConfig, KeyMaterial, KeySpec};
use cronium_server::config::{CoreConfig, Limits};
use cronium_server::state::AppState;
use cronium_store::sqlite::Sync as StoreSync;

/// The HS256 secret the in-process sidecar trusts (kid `default`).
pub const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-fuzzing-secret";

/// One sidecar per process.
pub struct Sidecar {
    /// The runtime its requests run on (current-thread: one fuzzing thread).
    pub rt: tokio::runtime::Runtime,
    /// The application state (store, auth, caches).
    pub state: Arc<AppState>,
    /// A valid token of the execution.
    pub token: String,
    /// The execution's id.
    pub execution_id: String,
    _dir: tempfile::TempDir,
}

/// The core configuration of a sidecar in `dir`, trusting [`SECRET`].
pub fn core_config(dir: &std::path::Path) -> CoreConfig {
    let mut auth = AuthConfig::default();
    auth.keys = vec![KeySpec {
        kid: "default".into(),
        material: KeyMaterial::Hs256(SECRET.to_vec()),
    }];
    CoreConfig {
        state_dir: dir.to_path_buf(),
        db_path: dir.join("cronium.db"),
        database: None,
        sync: StoreSync::Normal,
        auth,
        token_ttl: Duration::from_secs(3600),
        tools: cronium_tools::ToolsConfig::defaults(dir),
        retention: Default::default(),
        retention_interval: None,
    }
}

/// Requests served by one sidecar before it is replaced by a fresh one: what the requests
/// store (output records, variables) would otherwise grow the database without bound over
/// millions of executions.
const REQUESTS_PER_SIDECAR: u64 = 20_000;

thread_local! {
    static SIDECAR: RefCell<(u64, Option<Sidecar>)> = const { RefCell::new((0, None)) };
}

/// Runs `f` with this thread's sidecar (started on first use, replaced every
/// [`REQUESTS_PER_SIDECAR`] calls).
pub fn with_sidecar<T>(f: impl FnOnce(&Sidecar) -> T) -> T {
    SIDECAR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.0 >= REQUESTS_PER_SIDECAR {
            slot.1 = None;
            slot.0 = 0;
        }
        slot.0 += 1;
        let s = slot.1.get_or_insert_with(start);
        f(s)
    })
}

fn start() -> Sidecar {
    {
        let dir = tempfile::Builder::new()
            .prefix("cronium-fuzz-")
            .tempdir()
            .expect("temp dir");
        let core = core_config(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (state, token, execution_id) = rt.block_on(async {
            let admin = cronium_server::admin::Admin::open(&core).expect("store");
            let created = admin
                .create_execution(
                    cronium_store::NewExecution {
                        user_id: "fuzz".into(),
                        input: Some(r#"{"n":1}"#.into()),
                        ..Default::default()
                    },
                    Duration::from_secs(10 * 365 * 86400),
                    None,
                )
                .await
                .expect("execution");
            let store = cronium_server::open_store(&core).expect("store");
            let auth = cronium_server::authenticator(&core).expect("auth");
            let limits = Limits {
                // Fuzzing sends far more than the default rate from one execution.
                rate_per_sec: 0.0,
                ..Limits::default()
            };
            let state = cronium_server::app_state(store, auth, limits, core.token_ttl);
            // The tool engine as `serve` installs it; no credentials exist, so no tool
            // call leaves the process.
            state.set_tools(cronium_server::tools_engine(&core).expect("tool engine"));
            (state, created.token, created.execution.id)
        });
        Sidecar {
            rt,
            state,
            token,
            execution_id,
            _dir: dir,
        }
    }
}

/// A request body delivered in the given pieces (the chunking a socket may produce).
pub fn chunked_body(
    pieces: Vec<Bytes>,
) -> http_body_util::StreamBody<
    futures_util::stream::Iter<
        std::vec::IntoIter<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>>,
    >,
> {
    let frames: Vec<_> = pieces
        .into_iter()
        .map(|b| Ok(hyper::body::Frame::data(b)))
        .collect();
    http_body_util::StreamBody::new(futures_util::stream::iter(frames))
}

/// Sends one request through the routes and reads the whole answer; panics on a 5xx
/// other than 503 (a client's bytes must never cause one; 503 is the store refusing, e.g.
/// a full disk) or an answer that is not JSON where JSON is promised.
pub fn send<B>(s: &Sidecar, req: http::Request<B>)
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    s.rt.block_on(async {
        let resp = cronium_server::routes::handle(s.state.clone(), req).await;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        assert!(
            status.as_u16() < 500 || status.as_u16() == 503,
            "status {status} for a client's request"
        );
        // A watch (server-sent events) never ends: its head is the answer.
        if content_type.starts_with(b"text/event-stream") {
            return;
        }
        let is_json = content_type.starts_with(b"application/json");
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map(|c| c.to_bytes());
        if let (true, Ok(body)) = (is_json, &body) {
            if !body.is_empty() {
                serde_json::from_slice::<serde::de::IgnoredAny>(body)
                    .unwrap_or_else(|e| panic!("invalid JSON answer ({e}): {body:?}"));
            }
        }
    });
}
