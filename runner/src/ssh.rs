//! `--ssh [USER@]HOST[:PORT]`: the script runs on a remote host over OpenSSH.
//!
//! - One connection: `ssh -R 127.0.0.1:0:<local socket>` asks the remote sshd for a free
//!   loopback port (never a fixed one) tunnelled back to this run's socket; ssh reports the
//!   port it got ("Allocated port N") and the helpers there use `CRONIUM_RUNTIME_API`.
//! - The remote command is a fixed bootstrap ([`BOOTSTRAP`], no secret in it). Everything
//!   else travels on the session's stdin: the token, the script, the Bash helpers,
//!   arguments and `--env` values, as length-prefixed fields. The token is never in argv on
//!   either side and lands only in the environment of the script and in a 0600 file inside
//!   a 0700 `mktemp -d` directory, which the bootstrap removes when the script ends.
//! - After the fields, stdin stays open as a control channel: `T <token>` replaces the token
//!   file (refresh), `S <SIGNAL>` signals the script's process group. End of stdin (the
//!   runner stopped, or the connection broke) stops the script: SIGTERM, SIGKILL 5 s later.
//!
//! The remote side needs only bash (and curl for the helpers); Python and Node scripts need
//! the binding installed there.

use std::path::PathBuf;

use super::RunError;

/// Exit code of `cronium run --ssh` when the host cannot be reached (ssh's own code).
pub const EXIT_UNREACHABLE: u8 = 255;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `user@host` or `host`, as ssh takes it.
    pub destination: String,
    /// Port, when given.
    pub port: Option<u16>,
}

impl Target {
    /// Parses `[USER@]HOST[:PORT]` (an IPv6 address in brackets: `[::1]:22`).
    pub fn parse(s: &str) -> Result<Self, RunError> {
        let bad = |why: &str| RunError {
            code: 2,
            message: format!(
                "--ssh {s:?}: {why}; use [USER@]HOST[:PORT], e.g. deploy@build-1:2222"
            ),
        };
        let (user, hostport) = match s.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, s),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad("unexpected text after ]")),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|p| *p > 0))
            .map(|p| p.ok_or_else(|| bad("the port is not a number from 1 to 65535")))
            .transpose()?;
        let ok = |t: &str| {
            !t.is_empty()
                && !t.starts_with('-')
                && t.chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != '\'')
        };
        if !ok(host) || user.is_some_and(|u| !ok(u)) {
            return Err(bad("not a host name"));
        }
        let destination = match user {
            Some(u) => format!("{u}@{host}"),
            None => host.to_owned(),
        };
        Ok(Target { destination, port })
    }
}

/// What `--ssh` needs besides the target.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Where.
    pub target: Target,
    /// `--identity FILE`.
    pub identity: Option<PathBuf>,
    /// `--ssh-option KEY=VALUE`, passed as `-o`.
    pub options: Vec<String>,
}

/// The remote command (exit code 125 when it cannot set up): reads the fields from stdin, writes the files into a private temp
/// dir, starts the script in its own process group and serves the control channel. It must
/// hold no single quote (it travels inside one) and no secret (remote `ps` shows it).
pub const BOOTSTRAP: &str = r#"set -u
umask 077
_cr_lc_set=${LC_ALL+x}
_cr_lc=${LC_ALL-}
LC_ALL=C
_cr_field() {
  local n
  IFS= read -r n || exit 125
  case $n in "" | *[!0-9]*) exit 125 ;; esac
  REPLY=
  if [ "$n" -gt 0 ]; then IFS= read -r -N "$n" REPLY || exit 125; fi
}
_cr_field; _cr_tok=$REPLY
_cr_field; _cr_id=$REPLY
_cr_field; _cr_port=$REPLY
_cr_field; _cr_interp=$REPLY
_cr_field; _cr_helpers=$REPLY
_cr_field; _cr_site=$REPLY
_cr_field; _cr_name=$REPLY
_cr_field; _cr_script=$REPLY
_cr_field; _cr_n=$REPLY
_cr_args=()
for ((_cr_i = 0; _cr_i < _cr_n; _cr_i++)); do _cr_field; _cr_args+=("$REPLY"); done
_cr_field; _cr_n=$REPLY
_cr_envs=()
for ((_cr_i = 0; _cr_i < _cr_n; _cr_i++)); do _cr_field; _cr_envs+=("$REPLY"); done
_cr_d=$(mktemp -d "${TMPDIR:-/tmp}/cronium.XXXXXXXX") || {
  echo "cronium: cannot create a private temp dir on this host" >&2
  exit 125
}
_cr_cleanup() { rm -rf "$_cr_d"; }
trap _cr_cleanup EXIT
printf "%s" "$_cr_helpers" >"$_cr_d/cronium.sh"
mkdir "$_cr_d/python"
printf "%s" "$_cr_site" >"$_cr_d/python/sitecustomize.py"
printf "%s\n" "$_cr_tok" >"$_cr_d/token"
printf "%s" "$_cr_script" >"$_cr_d/$_cr_name"
if [ -n "$_cr_lc_set" ]; then LC_ALL=$_cr_lc; else unset LC_ALL; fi
export CRONIUM_EXECUTION_TOKEN="$_cr_tok" CRONIUM_EXECUTION_TOKEN_FILE="$_cr_d/token"
export CRONIUM_EXECUTION_ID="$_cr_id" CRONIUM_RUNTIME_API="http://127.0.0.1:$_cr_port"
unset CRONIUM_RUNTIME_SOCKET
case $_cr_interp in
  bash) export BASH_ENV="$_cr_d/cronium.sh" ;;
  python*) export PYTHONPATH="$_cr_d/python${PYTHONPATH:+:$PYTHONPATH}" ;;
esac
for _cr_e in ${_cr_envs[@]+"${_cr_envs[@]}"}; do export "$_cr_e"; done
set -m
"$_cr_interp" "$_cr_d/$_cr_name" ${_cr_args[@]+"${_cr_args[@]}"} </dev/null &
_cr_pid=$!
set +m
{
  while IFS= read -r _cr_line; do
    case $_cr_line in
      "T "*) printf "%s\n" "${_cr_line#T }" >"$_cr_d/token.new" && mv -f "$_cr_d/token.new" "$_cr_d/token" ;;
      "S "*) kill -s "${_cr_line#S }" -- "-$_cr_pid" ;;
    esac
  done
  kill -s TERM -- "-$_cr_pid"
  sleep 5
  kill -s KILL -- "-$_cr_pid"
} <&0 >/dev/null 2>&1 &
_cr_ctl=$!
wait "$_cr_pid"
_cr_rc=$?
kill -s KILL -- "-$_cr_pid" 2>/dev/null
kill "$_cr_ctl" 2>/dev/null
exit "$_cr_rc"
"#;

/// What the bootstrap reads before the control channel.
#[derive(Debug)]
pub struct Payload<'a> {
    /// Execution token.
    pub token: &'a str,
    /// Execution id.
    pub execution_id: &'a str,
    /// The remote loopback port of the tunnel.
    pub port: u16,
    /// Interpreter on the remote host.
    pub interpreter: &'a str,
    /// Bash helpers.
    pub helpers: &'a str,
    /// Python `sitecustomize.py`.
    pub sitecustomize: &'a str,
    /// The script's file name.
    pub script_name: &'a str,
    /// The script.
    pub script: &'a [u8],
    /// Its arguments.
    pub args: &'a [String],
    /// `K=V` for the script's environment.
    pub env: &'a [(String, String)],
}

impl Payload<'_> {
    /// The fields as the bootstrap reads them: decimal length, newline, bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.script.len() + self.helpers.len() + 1024);
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(format!("{}\n", bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
        };
        field(self.token.as_bytes());
        field(self.execution_id.as_bytes());
        field(self.port.to_string().as_bytes());
        field(self.interpreter.as_bytes());
        field(self.helpers.as_bytes());
        field(self.sitecustomize.as_bytes());
        field(self.script_name.as_bytes());
        field(self.script);
        field(self.args.len().to_string().as_bytes());
        for a in self.args {
            field(a.as_bytes());
        }
        field(self.env.len().to_string().as_bytes());
        for (k, v) in self.env {
            field(format!("{k}={v}").as_bytes());
        }
        out
    }
}

impl Remote {
    /// The `ssh` command line (program first). `socket` is the local end of the tunnel.
    pub fn command(&self, socket: &std::path::Path) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> =
            vec!["ssh".into(), "-T".into(), "-x".into(), "-a".into()];
        // These come before the user's options: ssh keeps the first value it gets, and the
        // runner needs batch mode, the forwarding to fail loudly, and the INFO line that
        // names the allocated port.
        for o in [
            "BatchMode=yes",
            "ExitOnForwardFailure=yes",
            "LogLevel=INFO",
            "RequestTTY=no",
            "PermitLocalCommand=no",
            "ConnectTimeout=15",
            "ServerAliveInterval=15",
            "ServerAliveCountMax=4",
        ] {
            a.extend(["-o".into(), o.into()]);
        }
        if let Some(port) = self.target.port {
            a.extend(["-p".into(), port.to_string().into()]);
        }
        if let Some(id) = &self.identity {
            a.extend([
                "-i".into(),
                id.into(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        for o in &self.options {
            a.extend(["-o".into(), o.into()]);
        }
        let mut forward = std::ffi::OsString::from("127.0.0.1:0:");
        forward.push(socket);
        a.extend(["-R".into(), forward, "--".into()]);
        a.push(self.target.destination.clone().into());
        a.push(format!("exec bash -c '{BOOTSTRAP}'").into());
        a
    }
}

/// The port in ssh's `Allocated port N for remote forward to ...` line.
pub fn allocated_port(line: &str) -> Option<u16> {
    line.trim()
        .strip_prefix("Allocated port ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("deploy@build-1:2222").expect("parse");
        assert_eq!(
            t,
            Target {
                destination: "deploy@build-1".into(),
                port: Some(2222)
            }
        );
        assert_eq!(Target::parse("h").expect("h").port, None);
        assert_eq!(
            Target::parse("u@[::1]:22").expect("v6").destination,
            "u@::1"
        );
        for bad in [
            "",
            "-oProxyCommand=x",
            "u@",
            "h:0",
            "h:99999",
            "a b",
            "[::1",
        ] {
            let e = Target::parse(bad).expect_err(bad);
            assert_eq!(e.code, 2, "{bad}");
        }
    }

    #[test]
    fn bootstrap_fits_in_single_quotes_and_fields_are_length_prefixed() {
        assert!(!BOOTSTRAP.contains('\''));
        let p = Payload {
            token: "t.o.k",
            execution_id: "e",
            port: 4242,
            interpreter: "bash",
            helpers: "",
            sitecustomize: "x",
            script_name: "s.sh",
            script: b"echo \xc3\xa9\n",
            args: &["a b".into()],
            env: &[("K".into(), "v\n2".into())],
        };
        let enc = String::from_utf8(p.encode()).expect("utf8");
        assert_eq!(
            enc,
            "5\nt.o.k1\ne4\n42424\nbash0\n1\nx4\ns.sh8\necho \u{e9}\n1\n13\na b1\n15\nK=v\n2"
        );
        assert_eq!(
            allocated_port("Allocated port 35509 for remote forward to /x:-2\n"),
            Some(35509)
        );
        assert_eq!(allocated_port("Warning: Permanently added"), None);
    }
}
