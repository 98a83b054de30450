//! A real PostgreSQL server for tests, in a temp directory, stopped and removed on drop.
//!
//! The one launcher every test that needs PostgreSQL uses (the store's conformance suite,
//! the many-sidecars tests): `initdb` into a fresh directory, then `pg_ctl start` on a free
//! loopback port and a private Unix socket directory, trust authentication, no fsync (the
//! tests crash sidecars, not the database's host). `initdb` refuses to run as root, and
//! tests and CI run as root: then the server runs as the `postgres` user (`runuser`), which
//! Debian's postgresql package creates.
//!
//! Binaries: `CRONIUM_PG_BIN` if set, else the newest `/usr/lib/postgresql/*/bin`, else
//! `initdb` on `PATH`. Missing binaries are a test failure with a one-line reason, never a
//! silent skip: `scripts/ensure-tools.sh test` installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A running PostgreSQL server owned by the test; dropping it stops the server and removes
/// its directory (also when the test panics).
#[derive(Debug)]
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CRONIUM_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
        .ok_or_else(|| {
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql \
             package (scripts/ensure-tools.sh test) or set CRONIUM_PG_BIN"
                .to_owned()
        })
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl TempPostgres {
    /// Starts a fresh server, or fails with a one-line reason (missing binaries, no
    /// `postgres` user when running as root, initdb or start failing with its log).
    pub fn start() -> Result<Self, String> {
        let bin = bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("cronium-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        std::fs::create_dir(dir.path().join("socket"))
            .map_err(|e| format!("cannot create the socket dir: {e}"))?;
        if as_postgres {
            let out = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .output()
                .map_err(|e| format!("cannot run chown: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "running as root, the server must run as the postgres user, and chown to it failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        let mut pg = Self {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
            ],
        )?;
        pg.port = free_port()?;
        pg.start_server()?;
        Ok(pg)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<Output, String> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            // The server inherits the working directory; root's may be unreadable to it.
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !out.status.success() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            return Err(format!(
                "{tool} failed: {} {} {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim(),
                log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            ));
        }
        Ok(out)
    }

    fn start_server(&self) -> Result<(), String> {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.socket_dir().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )?;
        Ok(())
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    /// Its loopback TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of database `postgres` as the superuser `postgres` (no password: trust).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: sessions are closed, committed data is kept), for
    /// tests of an unreachable database. [`TempPostgres::restart`] brings it back.
    pub fn stop(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )
        .map(|_| ())
    }

    /// Starts the stopped server again on the same port and data.
    pub fn restart(&self) -> Result<(), String> {
        self.start_server()
    }

    /// Turns TLS on: makes a private CA and a certificate for `localhost` signed by it
    /// (with the `openssl` tool, in `work`), restarts the server with them, and returns the
    /// CA certificate's path for the client to trust.
    pub fn enable_tls(&self, work: &Path) -> Result<PathBuf, String> {
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(work)
                .output()
                .map_err(|e| format!("cannot run openssl (install it): {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {} failed: {}",
                    args.first().copied().unwrap_or(""),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=cronium test CA",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ])?;
        std::fs::write(
            work.join("ext.cnf"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .map_err(|e| format!("cannot write the extensions file: {e}"))?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ])?;
        let data = self.data_dir();
        for f in ["server.crt", "server.key"] {
            std::fs::copy(work.join(f), data.join(f))
                .map_err(|e| format!("cannot copy {f}: {e}"))?;
        }
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .map_err(|e| format!("cannot chmod the key: {e}"))?;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|e| format!("cannot open postgresql.conf: {e}"))?;
        std::io::Write::write_all(&mut conf, b"\nssl = on\n")
            .map_err(|e| format!("cannot write postgresql.conf: {e}"))?;
        if self.as_postgres {
            let out = Command::new("chown")
                .args(["postgres:", "server.crt", "server.key"])
                .current_dir(&data)
                .output()
                .map_err(|e| format!("cannot run chown: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "chown of the server key failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        self.stop()?;
        self.restart()?;
        Ok(work.join("ca.pem"))
    }

    /// Where its files are.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        // Immediate: nothing of a test database needs to survive, and the directory goes.
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}
