//! Email over SMTP (lettre): implicit TLS, STARTTLS, or plain for a local relay.
//!
//! The credential fixes the server, the login and the sender; the script picks recipients,
//! subject and body. `Bcc` recipients get the message but no `Bcc` header (lettre drops it
//! when it formats the message).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Map, Value};

use super::ToolError;
use super::{only_fields, params_invalid, wrong_type, AttemptError, Delivered, Params, Secrets};

const KNOWN: &[&str] = &[
    "to", "cc", "bcc", "subject", "body", "isHtml", "html", "replyTo", "reply_to",
];
/// Most recipients (to + cc + bcc) of one message.
const MAX_RECIPIENTS: usize = 100;
/// RFC 5322's line limit, for the subject.
const MAX_SUBJECT: usize = 998;

/// How the connection to the server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain, then upgraded with STARTTLS, which is required (port 587).
    StartTls,
    /// No TLS: a relay on this machine or a trusted network (port 25).
    None,
}

/// The server, login and sender of an email credential.
#[derive(Clone)]
pub struct SmtpCredential {
    host: String,
    port: u16,
    security: Security,
    login: Option<(String, String)>,
    from: Mailbox,
}

// Never the password.
impl std::fmt::Debug for SmtpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpCredential({})", self.describe())
    }
}

/// A message ready to send, with where to send it.
pub struct Outgoing {
    cred: SmtpCredential,
    message: Message,
    recipients: usize,
    message_id: String,
}

impl SmtpCredential {
    /// Reads `{"host", "port"?, "security"?, "username"?, "password"?, "from"}`.
    pub(super) fn parse(cfg: &Map<String, Value>) -> Result<Self, String> {
        only_fields(
            cfg,
            &["host", "port", "security", "username", "password", "from"],
        )?;
        let host = cfg
            .get("host")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|h| !h.is_empty() && !h.contains(['/', ' ', ':']))
            .ok_or("needs host, the SMTP server's name, e.g. smtp.example.com (port apart)")?
            .to_owned();
        let security = match cfg.get("security").map(|v| v.as_str()) {
            None | Some(Some("starttls")) => Security::StartTls,
            Some(Some("tls")) => Security::Tls,
            Some(Some("none")) => Security::None,
            _ => return Err("security must be \"starttls\" (default), \"tls\" or \"none\"".into()),
        };
        let port = match cfg.get("port") {
            None => match security {
                Security::Tls => 465,
                Security::StartTls => 587,
                Security::None => 25,
            },
            Some(p) => p
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or("port must be a number from 1 to 65535")?,
        };
        let text = |name: &str| -> Result<Option<String>, String> {
            match cfg.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("{name} must be a string")),
            }
        };
        let login = match (text("username")?, text("password")?) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => return Err("give both username and password, or neither".into()),
        };
        let local = matches!(host.as_str(), "localhost" | "::1")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if security == Security::None && login.is_some() && !local {
            return Err(
                "security \"none\" would send the password in the clear; use \"starttls\" or \"tls\" (plain is only allowed to a relay on this machine)"
                    .into(),
            );
        }
        let from = text("from")?
            .ok_or("needs from, the sender, e.g. \"Cronium <noreply@example.com>\"")?
            .parse::<Mailbox>()
            .map_err(|e| format!("from is not an email address ({e})"))?;
        Ok(Self {
            host,
            port,
            security,
            login,
            from,
        })
    }

    pub(super) fn describe(&self) -> String {
        let security = match self.security {
            Security::Tls => "tls",
            Security::StartTls => "starttls",
            Security::None => "plain",
        };
        format!(
            "smtp://{}:{} ({security}{}) from {}",
            self.host,
            self.port,
            if self.login.is_some() { ", login" } else { "" },
            self.from.email
        )
    }

    pub(super) fn secrets(&self, s: &mut Secrets) {
        use base64::Engine as _;
        if let Some((user, pass)) = &self.login {
            s.add(pass);
            // The forms the password takes on the wire (AUTH PLAIN, AUTH LOGIN), in case a
            // server quotes them back.
            let b64 = base64::engine::general_purpose::STANDARD;
            s.add(&b64.encode(format!("\0{user}\0{pass}")));
            s.add(&b64.encode(pass));
        }
    }

    fn transport(&self, timeout: Duration) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let builder = match self.security {
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host)
                .map_err(|e| format!("cannot set up TLS for {}: {e}", self.host))?,
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host)
                .map_err(|e| format!("cannot set up TLS for {}: {e}", self.host))?,
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host),
        };
        let mut builder = builder.port(self.port).timeout(Some(timeout));
        if let Some((user, pass)) = &self.login {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(builder.build())
    }

    /// Builds the message from the script's params.
    pub(super) fn prepare(&self, p: &Params<'_>) -> Result<Outgoing, ToolError> {
        p.only(KNOWN)?;
        let to = addresses(p, "to")?;
        if to.is_empty() {
            return Err(params_invalid(
                "send-email needs to: an address, a comma-separated list or an array",
            ));
        }
        let cc = addresses(p, "cc")?;
        let bcc = addresses(p, "bcc")?;
        let recipients = to.len() + cc.len() + bcc.len();
        if recipients > MAX_RECIPIENTS {
            return Err(params_invalid(format!(
                "at most {MAX_RECIPIENTS} recipients (to, cc and bcc together)"
            )));
        }
        let subject = p
            .string("subject")?
            .ok_or_else(|| params_invalid("send-email needs subject (a string)"))?;
        if subject.chars().count() > MAX_SUBJECT || subject.chars().any(char::is_control) {
            return Err(params_invalid(format!(
                "subject must be one line of at most {MAX_SUBJECT} characters"
            )));
        }
        let body = p.string("body")?.ok_or_else(|| {
            params_invalid("send-email needs body (a string: text, or HTML with isHtml)")
        })?;
        let html = match p.get_any(&["isHtml", "html"]) {
            None => false,
            Some((Value::Bool(b), _)) => *b,
            Some((other, name)) => return Err(wrong_type(&name, "a boolean", other)),
        };
        let reply_to = match p.get_any(&["replyTo", "reply_to"]) {
            None => None,
            Some((Value::String(s), name)) => Some(mailbox(&name, s)?),
            Some((other, name)) => return Err(wrong_type(&name, "a string", other)),
        };
        let domain = self.from.email.domain().to_owned();
        let message_id = format!("<{}@{domain}>", uuid::Uuid::new_v4());
        let mut b = Message::builder()
            .message_id(Some(message_id.clone()))
            .from(self.from.clone())
            .subject(subject);
        for m in to {
            b = b.to(m);
        }
        for m in cc {
            b = b.cc(m);
        }
        for m in bcc {
            b = b.bcc(m);
        }
        if let Some(r) = reply_to {
            b = b.reply_to(r);
        }
        let content_type = if html {
            ContentType::TEXT_HTML
        } else {
            ContentType::TEXT_PLAIN
        };
        let message = b
            .header(content_type)
            .body(body.to_owned())
            .map_err(|e| params_invalid(format!("cannot build the message: {e}")))?;
        Ok(Outgoing {
            cred: self.clone(),
            message,
            recipients,
            message_id,
        })
    }

    /// Connects, secures and logs in, then quits: what `cronium tools test` checks.
    pub(super) async fn probe(&self, timeout: Duration) -> Result<String, String> {
        let t = self.transport(timeout)?;
        match tokio::time::timeout(timeout + Duration::from_secs(1), t.test_connection()).await {
            Ok(Ok(true)) => Ok(format!(
                "{}:{} answered{}",
                self.host,
                self.port,
                if self.login.is_some() {
                    " and accepted the login"
                } else {
                    ""
                }
            )),
            Ok(Ok(false)) => Err(format!("{}:{} did not answer NOOP", self.host, self.port)),
            Ok(Err(e)) => Err(format!("{}:{}: {e}", self.host, self.port)),
            Err(_) => Err(format!("{}:{} timed out", self.host, self.port)),
        }
    }
}

fn mailbox(name: &str, s: &str) -> Result<Mailbox, ToolError> {
    s.trim().parse::<Mailbox>().map_err(|_| {
        params_invalid(format!(
            "{name}: {:?} is not an email address",
            s.chars().take(128).collect::<String>()
        ))
    })
}

/// `to`/`cc`/`bcc`: one address, a comma-separated list, or an array of addresses.
fn addresses(p: &Params<'_>, name: &str) -> Result<Vec<Mailbox>, ToolError> {
    match p.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| mailbox(name, a))
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => mailbox(name, s),
                other => Err(wrong_type(name, "an array of strings", other)),
            })
            .collect(),
        Some(other) => Err(wrong_type(
            name,
            "an address or an array of addresses",
            other,
        )),
    }
}

/// Sends one message. SMTP 4xx and connection failures are transient (retried); 5xx,
/// TLS and protocol failures are final; a timeout is not retried (the server may have
/// taken the message).
pub(super) async fn send(out: &Outgoing, timeout: Duration) -> Result<Delivered, AttemptError> {
    let transport = out.cred.transport(timeout).map_err(AttemptError::Fatal)?;
    let sent = tokio::time::timeout(timeout, transport.send(out.message.clone())).await;
    let resp = match sent {
        Err(_) => return Err(AttemptError::Timeout),
        Ok(Ok(r)) => r,
        Ok(Err(e)) if e.is_timeout() => return Err(AttemptError::Timeout),
        Ok(Err(e)) if e.is_transient() => {
            return Err(AttemptError::Transient(format!(
                "the mail server deferred: {e}"
            )))
        }
        Ok(Err(e)) if e.is_permanent() || e.is_tls() || e.is_client() || e.is_response() => {
            return Err(AttemptError::Fatal(format!("the mail server refused: {e}")))
        }
        Ok(Err(e)) => {
            return Err(AttemptError::Transient(format!(
                "cannot reach the mail server: {e}"
            )))
        }
    };
    let status = resp.code().to_string().parse::<u16>().unwrap_or(250);
    let text = resp.message().collect::<Vec<_>>().join("\n");
    let mut extra = Map::new();
    extra.insert("messageId".into(), out.message_id.clone().into());
    extra.insert("recipients".into(), out.recipients.into());
    Ok(Delivered {
        status,
        body: text,
        truncated: false,
        extra,
    })
}
