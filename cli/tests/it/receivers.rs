//! Real endpoints for the tool-action tests, on 127.0.0.1 only: an HTTP server that records
//! every request and answers from a script, and a small SMTP server that records every
//! message it accepts. Both run on plain threads, serve until dropped, and bound every
//! read with a timeout so a test can never hang on them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the HTTP receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// This status and body.
    Status(u16, &'static str),
    /// This status, with the whole request (line, headers, body) as the body: what a
    /// careless endpoint that echoes its input would do.
    Echo(u16),
    /// Read the request, then answer nothing for this long (the connection stays open).
    Hang(Duration),
    /// Wait this long, then answer this status and body.
    Slow(Duration, u16, &'static str),
}

/// Answers a request like the API a receiver stands in for: status and JSON body.
pub type Handler = Arc<dyn Fn(&Recorded) -> (u16, String) + Send + Sync>;

/// A recording HTTP/1.1 server: answers from a queue of replies, then the default.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    stop: Arc<AtomicBool>,
}

impl HttpReceiver {
    /// A server answering `default` once the scripted replies are used up.
    pub fn start(default: Reply) -> Self {
        Self::start_with(default, None)
    }

    /// A server answering like an API: scripted replies first, then `handler` (JSON
    /// bodies get `Content-Type: application/json`).
    pub fn api(handler: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static) -> Self {
        Self::start_with(Reply::Status(500, "no handler"), Some(Arc::new(handler)))
    }

    fn start_with(default: Reply, handler: Option<Handler>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, q, st) = (requests.clone(), script.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (r, q, d, h) = (r.clone(), q.clone(), default, handler.clone());
                std::thread::spawn(move || serve_http(conn, &r, &q, &d, h.as_ref()));
            }
        });
        Self {
            addr,
            requests,
            script,
            stop,
        }
    }

    /// Queues replies for the next requests.
    pub fn then(&self, replies: &[Reply]) {
        self.script
            .lock()
            .expect("lock")
            .extend(replies.iter().cloned());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }

    /// Waits (bounded) until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + IO_TIMEOUT;
        while self.count() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.requests()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so the thread sees the flag and ends.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_http(
    conn: TcpStream,
    requests: &Mutex<Vec<Recorded>>,
    script: &Mutex<VecDeque<Reply>>,
    default: &Reply,
    handler: Option<&Handler>,
) {
    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut conn = conn;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection of Drop, or a probe
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let rec = Recorded {
        method,
        target,
        headers,
        body,
    };
    let echo = format!(
        "{} {}\n{}\n\n{}",
        rec.method,
        rec.target,
        rec.headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        rec.body_text()
    );
    requests.lock().expect("lock").push(rec.clone());
    let scripted = script.lock().expect("lock").pop_front();
    let reply = match (scripted, handler) {
        (Some(r), _) => r,
        (None, Some(h)) => {
            let (status, body) = h(&rec);
            let kind = if body.starts_with(['{', '[']) {
                "application/json"
            } else {
                "text/plain"
            };
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes());
            return;
        }
        (None, None) => *default,
    };
    let (status, body) = match reply {
        Reply::Status(s, b) => (s, b.to_owned()),
        Reply::Echo(s) => (s, echo),
        Reply::Hang(d) => {
            std::thread::sleep(d);
            return;
        }
        Reply::Slow(d, s, b) => {
            std::thread::sleep(d);
            (s, b.to_owned())
        }
    };
    let resp = if status == 204 {
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_owned()
    } else {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let _ = conn.write_all(resp.as_bytes());
}

/// A message the SMTP receiver accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// `(user, password)` of AUTH PLAIN / LOGIN.
    pub auth: Option<(String, String)>,
    pub from: String,
    pub rcpt: Vec<String>,
    /// The DATA, dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl Mail {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut out: Option<String> = None;
        let mut current = false;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if current {
                    if let Some(o) = out.as_mut() {
                        o.push(' ');
                        o.push_str(line.trim());
                    }
                }
                continue;
            }
            current = false;
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) && out.is_none() {
                    out = Some(v.trim().to_owned());
                    current = true;
                }
            }
        }
        out
    }
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

/// How the SMTP receiver answers the end of a message's DATA.
#[derive(Debug, Clone, Copy)]
pub enum SmtpReply {
    /// `250`: accepted.
    Accept,
    /// `451`: try again later.
    Defer,
    /// `550`: refused.
    Reject,
}

/// A small SMTP server (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT).
pub struct SmtpReceiver {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    attempts: Arc<Mutex<usize>>,
    script: Arc<Mutex<VecDeque<SmtpReply>>>,
    stop: Arc<AtomicBool>,
}

impl SmtpReceiver {
    /// Accepts AUTH only for `user`/`password`.
    pub fn start(user: &str, password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let addr = listener.local_addr().expect("addr");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, a, q, st) = (
            mails.clone(),
            attempts.clone(),
            script.clone(),
            stop.clone(),
        );
        let login = (user.to_owned(), password.to_owned());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (m, a, q, login) = (m.clone(), a.clone(), q.clone(), login.clone());
                std::thread::spawn(move || {
                    let _ = serve_smtp(conn, &m, &a, &q, &login);
                });
            }
        });
        Self {
            addr,
            mails,
            attempts,
            script,
            stop,
        }
    }

    /// Queues answers to the next messages' DATA.
    pub fn then(&self, replies: &[SmtpReply]) {
        self.script
            .lock()
            .expect("lock")
            .extend(replies.iter().copied());
    }

    /// Messages accepted (answered 250).
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("lock").clone()
    }

    /// Messages whose DATA was received, accepted or not.
    pub fn attempts(&self) -> usize {
        *self.attempts.lock().expect("lock")
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_smtp(
    conn: TcpStream,
    mails: &Mutex<Vec<Mail>>,
    attempts: &Mutex<usize>,
    script: &Mutex<VecDeque<SmtpReply>>,
    login: &(String, String),
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    let b64 = base64::engine::general_purpose::STANDARD;
    let send = |w: &mut TcpStream, s: &str| w.write_all(format!("{s}\r\n").as_bytes());
    send(&mut w, "220 localhost ESMTP cronium-test")?;
    let mut mail = Mail::default();
    let read_line = |r: &mut BufReader<TcpStream>| -> std::io::Result<Option<String>> {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return Ok(None);
        }
        Ok(Some(l.trim_end_matches(['\r', '\n']).to_owned()))
    };
    while let Some(line) = read_line(&mut reader)? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            send(&mut w, "250-localhost")?;
            send(&mut w, "250-AUTH PLAIN LOGIN")?;
            send(&mut w, "250 8BITMIME")?;
        } else if upper.starts_with("AUTH PLAIN") {
            let initial = line.get(11..).map(str::trim).unwrap_or("").to_owned();
            let payload = if initial.is_empty() {
                send(&mut w, "334 ")?;
                read_line(&mut reader)?.unwrap_or_default()
            } else {
                initial
            };
            let decoded = b64.decode(payload.trim()).unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let (user, pass) = (
                parts.get(1).cloned().unwrap_or_default(),
                parts.get(2).cloned().unwrap_or_default(),
            );
            let ok = (user.as_str(), pass.as_str()) == (login.0.as_str(), login.1.as_str());
            mail.auth = Some((user, pass));
            send(
                &mut w,
                if ok {
                    "235 2.7.0 Authentication successful"
                } else {
                    "535 5.7.8 Authentication credentials invalid"
                },
            )?;
        } else if upper.starts_with("AUTH LOGIN") {
            send(&mut w, "334 VXNlcm5hbWU6")?;
            let user = b64
                .decode(read_line(&mut reader)?.unwrap_or_default())
                .unwrap_or_default();
            send(&mut w, "334 UGFzc3dvcmQ6")?;
            let pass = b64
                .decode(read_line(&mut reader)?.unwrap_or_default())
                .unwrap_or_default();
            let (user, pass) = (
                String::from_utf8_lossy(&user).into_owned(),
                String::from_utf8_lossy(&pass).into_owned(),
            );
            let ok = (user.as_str(), pass.as_str()) == (login.0.as_str(), login.1.as_str());
            mail.auth = Some((user, pass));
            send(
                &mut w,
                if ok {
                    "235 2.7.0 Authentication successful"
                } else {
                    "535 5.7.8 Authentication credentials invalid"
                },
            )?;
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = addr_of(&line);
            mail.rcpt.clear();
            send(&mut w, "250 2.1.0 Ok")?;
        } else if upper.starts_with("RCPT TO:") {
            mail.rcpt.push(addr_of(&line));
            send(&mut w, "250 2.1.5 Ok")?;
        } else if upper == "DATA" {
            send(&mut w, "354 End data with <CR><LF>.<CR><LF>")?;
            let mut data = String::new();
            // Bounded: the read timeout ends a client that never sends the final dot.
            loop {
                let Some(l) = read_line(&mut reader)? else {
                    return Ok(());
                };
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                data.push_str("\r\n");
            }
            *attempts.lock().expect("lock") += 1;
            let reply = script
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or(SmtpReply::Accept);
            match reply {
                SmtpReply::Accept => {
                    let n = {
                        let mut m = mails.lock().expect("lock");
                        m.push(Mail {
                            data,
                            ..mail.clone()
                        });
                        m.len()
                    };
                    send(&mut w, &format!("250 2.0.0 Ok: queued as M{n}"))?;
                }
                SmtpReply::Defer => send(&mut w, "451 4.3.0 Try again later")?,
                SmtpReply::Reject => send(&mut w, "550 5.1.1 Mailbox unavailable")?,
            }
        } else if upper == "RSET" || upper == "NOOP" {
            send(&mut w, "250 2.0.0 Ok")?;
        } else if upper == "QUIT" {
            send(&mut w, "221 2.0.0 Bye")?;
            return Ok(());
        } else {
            send(&mut w, "502 5.5.2 Command not recognized")?;
        }
    }
    Ok(())
}

fn addr_of(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default()
}
