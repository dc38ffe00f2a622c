//! Outgoing mail: verification and password-reset links, and notices.
//!
//! Messages are text + HTML (`templates/mail/*.txt` unescaped, `*.html`
//! escaped by minijinja), with `From`, `To`, `Subject`, `Date` and
//! `Message-ID`, built by lettre. They go to the `[smtp]` relay (lettre's
//! async transport on tokio, rustls on aws-lc-rs), or with no `[smtp]` to
//! `DATA_DIR/outbox/*.eml` (mode 0600). The log says that a message went
//! out and where, never the link or its token.
//!
//! The server sends off the request path: handlers put a [`Job`] (a kind
//! and a user id, nothing secret) on a queue, and one worker issues the
//! link and sends, in order. The CLI and the admin API call [`perform`]
//! directly, to report failures.

use std::path::PathBuf;
use std::time::Duration;

use frontdesk_core::email_link::{self, LinkPolicy};
use frontdesk_core::error::Error;
use frontdesk_core::model::{LinkPurpose, UnixTime};
use frontdesk_core::paths;
use frontdesk_core::store::Store;
use frontdesk_store::Db;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::{Environment, context};

use crate::config::{MailSettings, SmtpTls};

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A new e-mail verification link to the user's address.
    VerifyEmail { sub: String },
    /// A new password-reset link to the user's address.
    ResetPassword { sub: String },
    /// "Your password was changed" (after a reset).
    PasswordChanged { sub: String },
    /// "You already have an account" to an address someone tried to
    /// register again (instead of telling the registrant).
    AlreadyRegistered { email: String },
    /// A security notice to the account's address (`security_notices`).
    Notice { sub: String, notice: Notice },
}

/// What a security notice tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A sign-in from a browser that had not signed in to the account
    /// before: its name (from the User-Agent) and address.
    NewSignIn { device: String, address: String },
    /// The password was changed on the account page.
    PasswordChanged,
    /// A second factor was added: what, in words ("a passkey named …").
    FactorAdded(String),
    /// A second factor was removed.
    FactorRemoved(String),
    /// The account's address was changed on the account page: sent to the
    /// old address (`to`), the only one that can tell of a takeover.
    EmailChanged { to: String, new: String },
}

impl Notice {
    fn subject(&self) -> &'static str {
        match self {
            Notice::NewSignIn { .. } => "New sign-in to your account",
            Notice::PasswordChanged => "Your password was changed",
            Notice::FactorAdded(_) => "A sign-in method was added to your account",
            Notice::FactorRemoved(_) => "A sign-in method was removed from your account",
            Notice::EmailChanged { .. } => "The e-mail address of your account was changed",
        }
    }

    /// The one sentence that says what happened (plain text; escaped in
    /// the HTML part like every value).
    fn what(&self, issuer: &str) -> String {
        match self {
            Notice::NewSignIn { device, address } => format!(
                "Your account at {issuer} was just signed in to from {device} at {address}, \
                 a browser it had not been used from before."
            ),
            Notice::PasswordChanged => format!(
                "The password of your account at {issuer} was just changed on the account page, \
                 and the account's other sessions were signed out."
            ),
            Notice::FactorAdded(what) => {
                format!("{what} was just added to your account at {issuer}.")
            }
            Notice::FactorRemoved(what) => {
                format!("{what} was just removed from your account at {issuer}.")
            }
            Notice::EmailChanged { new, .. } => format!(
                "The e-mail address of your account at {issuer} was just changed to {new} \
                 on the account page. Mail about the account now goes there."
            ),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Notice::NewSignIn { .. } => "notice_new_sign_in",
            Notice::PasswordChanged => "notice_password_changed",
            Notice::FactorAdded(_) => "notice_factor_added",
            Notice::FactorRemoved(_) => "notice_factor_removed",
            Notice::EmailChanged { .. } => "notice_email_changed",
        }
    }
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::VerifyEmail { .. } => "verify_email",
            Job::ResetPassword { .. } => "reset_password",
            Job::PasswordChanged { .. } => "password_changed",
            Job::AlreadyRegistered { .. } => "already_registered",
            Job::Notice { notice, .. } => notice.kind(),
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no such user")]
    NoUser,
    #[error("the user has no e-mail address")]
    NoAddress,
    #[error("the user is disabled")]
    Disabled,
    #[error("the address {0:?} cannot be used for mail")]
    BadAddress(String),
    #[error("the mail could not be sent: {0}")]
    Transport(String),
    #[error(transparent)]
    Core(#[from] Error),
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Smtp,
    Outbox(PathBuf),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// Renders and sends messages.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    issuer: String,
    templates: Environment<'static>,
}

const TEMPLATES: [(&str, &str); 11] = [
    ("base.html", include_str!("../templates/mail/base.html")),
    (
        "verify_email.txt",
        include_str!("../templates/mail/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("../templates/mail/verify_email.html"),
    ),
    (
        "reset_password.txt",
        include_str!("../templates/mail/reset_password.txt"),
    ),
    (
        "reset_password.html",
        include_str!("../templates/mail/reset_password.html"),
    ),
    (
        "password_changed.txt",
        include_str!("../templates/mail/password_changed.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../templates/mail/password_changed.html"),
    ),
    (
        "already_registered.txt",
        include_str!("../templates/mail/already_registered.txt"),
    ),
    (
        "already_registered.html",
        include_str!("../templates/mail/already_registered.html"),
    ),
    (
        "security_notice.txt",
        include_str!("../templates/mail/security_notice.txt"),
    ),
    (
        "security_notice.html",
        include_str!("../templates/mail/security_notice.html"),
    ),
];

impl Mailer {
    /// `product_name`: `[branding]`'s, in every message's header.
    pub fn new(
        settings: &MailSettings,
        issuer: &str,
        product_name: &str,
    ) -> anyhow::Result<Mailer> {
        let mut templates = Environment::new();
        templates.add_global(
            "brand",
            minijinja::context! { product_name => product_name.to_owned() },
        );
        for (name, source) in TEMPLATES {
            templates
                .add_template(name, source)
                .map_err(|e| anyhow::anyhow!("mail template {name}: {e}"))?;
        }
        let transport = match &settings.smtp {
            None => Transport::Outbox(settings.outbox.clone()),
            Some(smtp) => {
                let tls = || -> anyhow::Result<TlsParameters> {
                    let mut b = TlsParameters::builder(smtp.host.clone());
                    if let Some(pem) = &smtp.ca_pem {
                        let cert = Certificate::from_pem(pem)
                            .map_err(|e| anyhow::anyhow!("config: smtp.ca_file: {e}"))?;
                        b = b.add_root_certificate(cert);
                    }
                    b.build_rustls()
                        .map_err(|e| anyhow::anyhow!("config: smtp TLS: {e}"))
                };
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    .port(smtp.port)
                    .timeout(Some(smtp.timeout))
                    .tls(match smtp.tls {
                        // Required, never Opportunistic: a relay that does
                        // not offer STARTTLS (or a man in the middle who
                        // strips it) gets nothing in the clear.
                        SmtpTls::StartTls => Tls::Required(tls()?),
                        SmtpTls::Tls => Tls::Wrapper(tls()?),
                        SmtpTls::None => Tls::None,
                    });
                if let Some((user, password)) = &smtp.credentials {
                    b = b.credentials(Credentials::new(user.clone(), password.to_string()));
                }
                Transport::Smtp(b.build())
            }
        };
        Ok(Mailer {
            transport,
            from: settings.from.clone(),
            issuer: issuer.to_owned(),
            templates,
        })
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
        }
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, MailError> {
        self.templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| MailError::Core(Error::Internal(format!("mail template {name}: {e}"))))
    }

    /// Builds the message: text and HTML alternatives from the templates
    /// `NAME.txt` / `NAME.html`.
    fn message(
        &self,
        to: &str,
        subject: &str,
        template: &str,
        ctx: minijinja::Value,
    ) -> Result<Message, MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| MailError::BadAddress(to.to_owned()))?;
        let text = self.render(&format!("{template}.txt"), &ctx)?;
        let html = self.render(&format!("{template}.html"), &ctx)?;
        let id = frontdesk_core::secret::random_string(18)?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .date_now()
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Core(Error::Internal(format!("building a message: {e}"))))
    }

    async fn send(&self, message: Message, now: UnixTime) -> Result<Sent, MailError> {
        match &self.transport {
            Transport::Smtp(t) => t
                .send(message)
                .await
                .map(|_| Sent::Smtp)
                .map_err(|e| MailError::Transport(e.to_string())),
            Transport::Outbox(dir) => write_outbox(dir, &message.formatted(), now).await,
        }
    }

    fn link(&self, path: &str, token: &str) -> String {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        format!("{}{path}?{q}", self.issuer)
    }
}

/// Writes `bytes` to a new `DIR/TIME-RANDOM.eml`, mode 0600 (the directory
/// 0700), never overwriting.
async fn write_outbox(
    dir: &std::path::Path,
    bytes: &[u8],
    now: UnixTime,
) -> Result<Sent, MailError> {
    let io = |e: std::io::Error| MailError::Transport(format!("outbox {}: {e}", dir.display()));
    let mut b = tokio::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir).await.map_err(io)?;
    let name = format!("{now}-{}.eml", frontdesk_core::secret::random_string(9)?);
    let path = dir.join(name);
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(&path).await.map_err(io)?;
    tokio::io::AsyncWriteExt::write_all(&mut f, bytes)
        .await
        .map_err(io)?;
    f.sync_all().await.map_err(io)?;
    Ok(Sent::Outbox(path))
}

/// "30 minutes", "24 hours": a link lifetime for people.
pub(crate) fn duration_words(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs % 3600 == 0 {
        plural(secs / 3600, "hour")
    } else if secs % 60 == 0 {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

/// The user `sub` and their address.
async fn recipient(db: &Db, sub: &str) -> Result<(frontdesk_core::model::User, String), MailError> {
    let user = db
        .user(sub)
        .await
        .map_err(Error::from)?
        .ok_or(MailError::NoUser)?;
    let email = user.claims.email.clone().ok_or(MailError::NoAddress)?;
    Ok((user, email))
}

/// Does `job`: loads the user, issues a link where the job needs one, and
/// sends. Returns the address and where the message went.
pub async fn perform(
    mailer: &Mailer,
    db: &Db,
    links: &LinkPolicy,
    job: &Job,
    now: UnixTime,
) -> Result<(String, Sent), MailError> {
    let issuer = mailer.issuer.as_str();
    let forgot = format!("{issuer}{}", paths::FORGOT);
    let (to, message) = match job {
        Job::AlreadyRegistered { email } => {
            let ctx = context! {
                issuer => issuer,
                login => format!("{issuer}{}", paths::LOGIN),
                forgot => forgot,
            };
            let m = mailer.message(
                email,
                "You already have an account",
                "already_registered",
                ctx,
            )?;
            (email.clone(), m)
        }
        Job::Notice { sub, notice } => {
            let (user, mut email) = recipient(db, sub).await?;
            if let Notice::EmailChanged { to, .. } = notice {
                email.clone_from(to);
            }
            if email.parse::<Mailbox>().is_err() {
                return Err(MailError::BadAddress(email));
            }
            let ctx = context! {
                issuer => issuer,
                username => user.username,
                what => notice.what(issuer),
                forgot => forgot,
                account => format!("{issuer}/account"),
            };
            let m = mailer.message(&email, notice.subject(), "security_notice", ctx)?;
            (email, m)
        }
        Job::VerifyEmail { sub } | Job::ResetPassword { sub } | Job::PasswordChanged { sub } => {
            let (user, email) = recipient(db, sub).await?;
            let (purpose, path, subject, template) = match job {
                Job::VerifyEmail { .. } => (
                    Some(LinkPurpose::VerifyEmail),
                    paths::VERIFY_EMAIL,
                    "Confirm your e-mail address",
                    "verify_email",
                ),
                Job::ResetPassword { .. } => (
                    Some(LinkPurpose::ResetPassword),
                    paths::RESET,
                    "Reset your password",
                    "reset_password",
                ),
                _ => (None, "", "Your password was changed", "password_changed"),
            };
            if user.disabled && purpose == Some(LinkPurpose::ResetPassword) {
                return Err(MailError::Disabled);
            }
            // Checked before a token is stored for it.
            if email.parse::<Mailbox>().is_err() {
                return Err(MailError::BadAddress(email));
            }
            let (link, valid_for) = match purpose {
                Some(p) => {
                    let (token, _) = email_link::issue(db, links, p, &user, now)
                        .await?
                        .ok_or(MailError::NoAddress)?;
                    (mailer.link(path, &token), duration_words(links.ttl(p)))
                }
                None => (String::new(), String::new()),
            };
            let ctx = context! {
                issuer => issuer,
                username => user.username,
                email => &email,
                link => link,
                valid_for => valid_for,
                forgot => forgot,
            };
            let m = mailer.message(&email, subject, template, ctx)?;
            (email, m)
        }
    };
    let sent = mailer.send(message, now).await?;
    match &sent {
        Sent::Smtp => tracing::info!(kind = job.kind(), "mail sent"),
        Sent::Outbox(path) => tracing::info!(
            kind = job.kind(),
            path = %path.display(),
            "mail written to the outbox (no [smtp] configured)"
        ),
    }
    Ok((to, sent))
}

/// Most jobs waiting for the worker; past it new ones are dropped (and
/// logged). The throttles keep real traffic far below.
const QUEUE: usize = 1024;

/// The server's queue of mail to send.
pub struct Outgoing {
    pub mailer: Mailer,
    tx: tokio::sync::mpsc::Sender<Job>,
}

/// The worker's end of the queue.
pub struct Jobs(tokio::sync::mpsc::Receiver<Job>);

impl Outgoing {
    pub fn new(mailer: Mailer) -> (Outgoing, Jobs) {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        (Outgoing { mailer, tx }, Jobs(rx))
    }

    /// Queues `job` for the worker; never waits.
    pub fn enqueue(&self, job: Job) {
        let kind = job.kind();
        if self.tx.try_send(job).is_err() {
            tracing::warn!(kind, "mail queue full or closed; message dropped");
        }
    }
}

/// The worker: sends queued jobs one at a time, in order, until the queue
/// closes. A job that fails is logged and dropped (links are asked for
/// again by the person who needs one).
pub async fn worker(app: crate::app::AppState, mut jobs: Jobs) {
    while let Some(job) = jobs.0.recv().await {
        let now = crate::app::now();
        let sent = tokio::time::timeout(
            SEND_DEADLINE,
            perform(&app.mail.mailer, &app.db, &app.links, &job, now),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(kind = job.kind(), error = %e, "mail not sent"),
            Err(_) => tracing::warn!(kind = job.kind(), "mail not sent: timed out"),
        }
    }
}

/// Longest one job may take (the transport's own timeout is per command).
const SEND_DEADLINE: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lifetimes_in_words() {
        assert_eq!(duration_words(1800), "30 minutes");
        assert_eq!(duration_words(86_400), "24 hours");
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(60), "1 minute");
        assert_eq!(duration_words(61), "61 seconds");
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let settings = MailSettings {
            smtp: None,
            outbox: PathBuf::from("/nonexistent"),
            from: "frontdesk <no-reply@example.com>".parse().unwrap(),
        };
        let m = Mailer::new(&settings, "https://id.example.com", "frontdesk").unwrap();
        let ctx = context! {
            issuer => "https://id.example.com",
            username => "<b>o'neil&co</b>",
            email => "a@example.com",
            link => "https://id.example.com/reset?token=a&b",
            valid_for => "30 minutes",
            forgot => "https://id.example.com/forgot",
        };
        let html = m.render("reset_password.html", &ctx).unwrap();
        assert!(
            html.contains("Hello &lt;b&gt;o&#x27;neil&amp;co&lt;&#x2f;b&gt;,"),
            "{html}"
        );
        assert!(
            html.contains("href=\"https:&#x2f;&#x2f;id.example.com&#x2f;reset?token=a&amp;b\""),
            "{html}"
        );
        let text = m.render("reset_password.txt", &ctx).unwrap();
        assert!(text.starts_with("Hello <b>o'neil&co</b>,"), "{text}");
        assert!(
            text.contains("\nhttps://id.example.com/reset?token=a&b\n"),
            "{text}"
        );
    }
}
