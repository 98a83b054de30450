//! The admin API's settings: `[admin]` in the file, `CRONIUM_ADMIN_*` in the environment,
//! `--admin-socket`/`--admin-listen` on `serve`. The secret comes from the environment or a
//! file, never argv; without one the admin API is off.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use cronium_server::admin_api::{AdminConfig, AdminSecret};
use cronium_server::config::ConfigError;

/// `[admin]` of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAdmin {
    /// The admin socket.
    pub socket: Option<PathBuf>,
    /// Loopback TCP address.
    pub listen: Option<String>,
    /// File holding the admin secret.
    pub secret_file: Option<PathBuf>,
}

/// The admin socket when none is configured: under the state directory, which no script
/// container mounts (scripts get the runtime socket's directory only).
pub fn default_socket(state_dir: &Path) -> PathBuf {
    state_dir.join("admin").join("admin.sock")
}

/// The admin secret: `CRONIUM_ADMIN_SECRET`, else the file named by
/// `CRONIUM_ADMIN_SECRET_FILE` or `[admin] secret_file`; `None` when none is set.
pub fn secret(
    file: &FileAdmin,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AdminSecret>, ConfigError> {
    if let Some(s) = env("CRONIUM_ADMIN_SECRET").filter(|s| !s.is_empty()) {
        return AdminSecret::new(&s)
            .map(Some)
            .map_err(|e| ConfigError(format!("CRONIUM_ADMIN_SECRET: {e}")));
    }
    let Some((path, setting)) = env("CRONIUM_ADMIN_SECRET_FILE")
        .filter(|s| !s.is_empty())
        .map(|p| (PathBuf::from(p), "CRONIUM_ADMIN_SECRET_FILE"))
        .or_else(|| file.secret_file.clone().map(|p| (p, "[admin] secret_file")))
    else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError(format!(
            "{setting}: cannot read the admin secret {}: {e}",
            path.display()
        ))
    })?;
    AdminSecret::new(&text)
        .map(Some)
        .map_err(|e| ConfigError(format!("{setting} ({}): {e}", path.display())))
}

/// The raw secret text for a client (`cronium executions ... --admin-socket`), from the
/// same settings as the sidecar's; refused when none is set.
pub fn client_secret(
    file: &FileAdmin,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    if let Some(s) = env("CRONIUM_ADMIN_SECRET").filter(|s| !s.is_empty()) {
        return Ok(s);
    }
    let path = env("CRONIUM_ADMIN_SECRET_FILE")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| file.secret_file.clone())
        .ok_or_else(|| {
            ConfigError(
                "the admin API needs its secret: set CRONIUM_ADMIN_SECRET or CRONIUM_ADMIN_SECRET_FILE (or [admin] secret_file)"
                    .into(),
            )
        })?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError(format!(
            "cannot read the admin secret {}: {e}",
            path.display()
        ))
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// The admin API's configuration for `serve`: `None` (off) unless a secret is set; a
/// socket or address configured without a secret is an error, so a typo does not leave an
/// orchestrator talking to nothing.
pub fn serve_admin(
    state_dir: &Path,
    file: &FileAdmin,
    socket_flag: Option<PathBuf>,
    listen_flag: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AdminConfig>, ConfigError> {
    let socket = socket_flag
        .or_else(|| {
            env("CRONIUM_ADMIN_SOCKET")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| file.socket.clone());
    let listen = listen_flag
        .or_else(|| env("CRONIUM_ADMIN_LISTEN").filter(|s| !s.is_empty()))
        .or_else(|| file.listen.clone());
    let Some(secret) = secret(file, env)? else {
        if socket.is_some() || listen.is_some() {
            return Err(ConfigError(
                "an admin socket or address is configured but no admin secret: set CRONIUM_ADMIN_SECRET or CRONIUM_ADMIN_SECRET_FILE (or [admin] secret_file)"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let listen = match listen {
        Some(a) => {
            let addr = a.parse::<SocketAddr>().map_err(|_| {
                ConfigError(format!(
                    "admin listen address {a:?} is not HOST:PORT with an IP address, e.g. 127.0.0.1:8090"
                ))
            })?;
            if !addr.ip().is_loopback() {
                return Err(ConfigError(format!(
                    "admin listen address {addr} is not loopback; the admin API speaks plain HTTP, so use 127.0.0.1"
                )));
            }
            Some(addr)
        }
        None => None,
    };
    Ok(Some(AdminConfig {
        socket: socket.unwrap_or_else(|| default_socket(state_dir)),
        listen,
        secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn off_without_a_secret_and_refused_half_configured() {
        let file = FileAdmin::default();
        let none = serve_admin(Path::new("/s"), &file, None, None, &env_of(&[])).expect("ok");
        assert!(none.is_none());
        let e = serve_admin(
            Path::new("/s"),
            &file,
            Some("/x/a.sock".into()),
            None,
            &env_of(&[]),
        )
        .expect_err("no secret");
        assert!(e.0.contains("no admin secret"), "{}", e.0);
    }

    #[test]
    fn defaults_under_the_state_dir_and_listens_on_loopback_only() {
        let file = FileAdmin::default();
        let env = env_of(&[("CRONIUM_ADMIN_SECRET", "0123456789abcdef-secret")]);
        let cfg = serve_admin(Path::new("/s"), &file, None, None, &env)
            .expect("ok")
            .expect("on");
        assert_eq!(cfg.socket, PathBuf::from("/s/admin/admin.sock"));
        let e = serve_admin(Path::new("/s"), &file, None, Some("0.0.0.0:9".into()), &env)
            .expect_err("not loopback");
        assert!(e.0.contains("not loopback"), "{}", e.0);
        let short = env_of(&[("CRONIUM_ADMIN_SECRET", "short")]);
        let e = serve_admin(Path::new("/s"), &file, None, None, &short).expect_err("short");
        assert!(e.0.starts_with("CRONIUM_ADMIN_SECRET: "), "{}", e.0);
        assert!(
            !e.0.contains("short\""),
            "the secret is never echoed: {}",
            e.0
        );
    }
}
