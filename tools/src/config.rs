//! The tool engine's own settings. The CLI's configuration (flags, environment, file)
//! builds one; the engine only reads it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::crypto::CredentialKey;

/// Where the key that seals stored tool credentials comes from.
#[derive(Debug, Clone)]
pub enum CredentialsKeySource {
    /// Given by the operator (`CRONIUM_CREDENTIALS_KEY`, `CRONIUM_CREDENTIALS_KEY_FILE` or
    /// `[tools] key_file`).
    Configured {
        /// The key.
        key: Arc<CredentialKey>,
        /// The setting that gave it, named in messages.
        setting: String,
    },
    /// Nothing configured: a key generated on first use in this file (0600, in a 0700
    /// directory), outside the database, like the generated token secret.
    Generated(PathBuf),
}

impl CredentialsKeySource {
    /// The key. A generated key is created when `create` (adding a credential) and only
    /// read otherwise, so reading never invents a key that cannot open anything.
    pub fn load(&self, create: bool) -> Result<Arc<CredentialKey>, String> {
        match self {
            CredentialsKeySource::Configured { key, .. } => Ok(Arc::clone(key)),
            CredentialsKeySource::Generated(path) => {
                let text = match std::fs::read(path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                        create_key_file(path)?
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(format!(
                            "no credentials key: {} does not exist and CRONIUM_CREDENTIALS_KEY_FILE is not set; add a credential with `cronium tools add`, or point CRONIUM_CREDENTIALS_KEY_FILE at the key it was added with",
                            path.display()
                        ))
                    }
                    Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
                };
                CredentialKey::parse(&text)
                    .map(Arc::new)
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }

    /// The setting to name when the key is wrong or missing.
    pub fn describe(&self) -> String {
        match self {
            CredentialsKeySource::Configured { setting, .. } => setting.clone(),
            CredentialsKeySource::Generated(path) => {
                format!("the generated key {}", path.display())
            }
        }
    }
}

fn create_key_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = CredentialKey::generate_text()?;
    // create_new: when two processes race, one key wins and both use it.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(text.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// Tool actions: the credentials key, timeouts, retries and the per-execution call limit.
#[derive(Debug, Clone)]
pub struct ToolsConfig {
    /// The key sealing stored credentials.
    pub key: CredentialsKeySource,
    /// Tool calls per minute per execution (token-bucket refill); 0 disables the limit.
    pub rate_per_min: f64,
    /// Calls an execution may make at once before the per-minute rate applies.
    pub rate_burst: f64,
    /// Time one attempt (connect, send, answer) may take.
    pub attempt_timeout: Duration,
    /// Retries after the first attempt, for connect errors and 5xx answers only.
    pub retries: u32,
    /// Wait before the first retry; doubles for each further one.
    pub retry_backoff: Duration,
    /// Time a whole call, retries included, may take; kept below client-core's 30 s call
    /// timeout so the script sees the sidecar's answer, not its own timeout.
    pub deadline: Duration,
    /// Base URLs of the REST-API tools, overridable for a proxy, an on-premises gateway or
    /// the tests' local receivers.
    pub endpoints: Endpoints,
}

/// Base URLs of the REST-API tools (`[tools] notion_url`, `CRONIUM_TOOLS_NOTION_URL`, ...).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Notion's API (`https://api.notion.com`; requests go to `<base>/v1/...`).
    pub notion: url::Url,
    /// Trello's API (`https://api.trello.com`; requests go to `<base>/1/...`).
    pub trello: url::Url,
    /// Google Sheets (`https://sheets.googleapis.com`; requests go to `<base>/v4/...`).
    pub sheets: url::Url,
    /// Google's OAuth token endpoint (`https://oauth2.googleapis.com/token`), also the
    /// audience of a service account's signed grant.
    pub google_token: url::Url,
}

impl Default for Endpoints {
    fn default() -> Self {
        let u = |s: &str| url::Url::parse(s).expect("a built-in URL parses");
        Self {
            notion: u("https://api.notion.com"),
            trello: u("https://api.trello.com"),
            sheets: u("https://sheets.googleapis.com"),
            google_token: u("https://oauth2.googleapis.com/token"),
        }
    }
}

impl Endpoints {
    /// Sets one endpoint by its setting name (`notion_url`, `trello_url`, `sheets_url`,
    /// `google_token_url`); the value must be an absolute http(s) URL without credentials.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let url = url::Url::parse(value.trim())
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.fragment().is_none()
            })
            .ok_or_else(|| {
                format!("{name} must be an http(s) URL such as https://gateway.example.com/notion, without user:password")
            })?;
        match name {
            "notion_url" => self.notion = url,
            "trello_url" => self.trello = url,
            "sheets_url" => self.sheets = url,
            "google_token_url" => self.google_token = url,
            _ => return Err(format!("unknown endpoint setting {name}")),
        }
        Ok(())
    }

    /// The setting names, for the configuration readers.
    pub const SETTINGS: [&'static str; 4] =
        ["notion_url", "trello_url", "sheets_url", "google_token_url"];
}

impl ToolsConfig {
    /// Defaults, with the generated key under `state_dir`.
    pub fn defaults(state_dir: &Path) -> Self {
        Self {
            key: CredentialsKeySource::Generated(state_dir.join("keys").join("credentials.key")),
            rate_per_min: 60.0,
            rate_burst: 10.0,
            attempt_timeout: Duration::from_secs(10),
            retries: 3,
            retry_backoff: Duration::from_millis(250),
            deadline: Duration::from_secs(25),
            endpoints: Endpoints::default(),
        }
    }
}
