//! Audit events: what happened, to which account, by whom, from where —
//! never a secret, token, code or password.
//!
//! An [`AuditEvent`] can only be built through typed constructors: the
//! [`Kind`] is a closed set, the actor an [`Actor`], the subject a user's
//! `sub`, the client a [`ClientId`], the peer an [`IpAddr`], and `detail`
//! takes values through methods that name what they hold (a grant id, a
//! session id, a scope, field names, a count, a `&'static str` reason).
//! No method takes "some text": a runtime string only goes in through a
//! method that says which identifier it is, so a token or password would
//! have to be passed off as an id at the call site, in plain sight.
//!
//! Core builds no event with an id or a time of its own (no clock, no
//! randomness here): the binary assigns both when it records one.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::model::{ClientId, UnixTime};

/// What happened. The dotted names are stable: they are stored, filtered
/// on (`kind=login` matches every `login.*`), and documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSuccess,
    LoginFailure,
    /// Over the account or address limit: the password was not checked.
    LoginThrottled,
    ConsentGrant,
    ConsentRevoke,
    SessionEnd,
    /// A consumed refresh token came back: the grant was revoked.
    RefreshReuseDetected,
    /// A redeemed authorization code came back: the grant was revoked.
    CodeReuseDetected,
    TokenRevoke,
    AdminClientCreate,
    AdminClientUpdate,
    AdminClientDelete,
    AdminClientRotateSecret,
    AdminUserCreate,
    AdminUserUpdate,
    AdminUserDisable,
    AdminUserEnable,
    AdminUserPassword,
    AdminUserDelete,
    AdminUserUnlock,
    AdminUserSessionEnd,
    AdminConsentRevoke,
    AdminKeysRotate,
    /// A second factor was enrolled (TOTP confirmed; recovery codes issued).
    MfaEnrol,
    /// The user turned two-step verification off.
    MfaRemove,
    /// A second factor raised a session (`factor`: `totp` or `recovery_code`).
    MfaSuccess,
    MfaFailure,
    /// Over the limit: the code was not checked.
    MfaThrottled,
    /// The user replaced their recovery codes.
    MfaRecoveryCodes,
    /// The user changed their password on the account page.
    PasswordChange,
    /// The user edited their profile claims on the account page.
    ProfileUpdate,
    /// An administrator removed the user's second factors (a lost phone).
    AdminUserResetMfa,
    /// An administrator mailed the user a link (`detail.purpose`).
    AdminUserSendLink,
    /// A password was reset through an e-mailed link.
    PasswordReset,
    /// An e-mail address was verified through an e-mailed link.
    EmailVerify,
    /// Someone registered an account (self-registration).
    UserRegister,
    /// A sign-in through an upstream identity provider (`detail.idp`;
    /// `detail.how`: `linked`, `linked_by_email` or `provisioned`).
    UpstreamLogin,
    /// An upstream sign-in that signed no one in (`detail.reason`).
    UpstreamRefused,
    /// The user connected an upstream account from the account page.
    UpstreamLink,
    /// The user disconnected an upstream account.
    UpstreamUnlink,
    /// An administrator created a group (`detail.group`).
    AdminGroupCreate,
    /// An administrator deleted a group and its memberships.
    AdminGroupDelete,
    /// An administrator added a user (`subject`) to a group.
    AdminGroupMemberAdd,
    /// An administrator removed a user from a group.
    AdminGroupMemberRemove,
    /// A signed-in user in none of the client's `required_groups` was
    /// refused at `/authorize`.
    AuthorizeNotAdmitted,
    /// A sign-in through an upstream or a directory changed the user's
    /// memberships from it (`detail.idp`, `added`, `removed`, `skipped`).
    GroupsSync,
    /// An administrator added an upstream identity provider (`detail.idp`).
    AdminUpstreamAdd,
    /// An administrator removed one, with its links (`detail.idp`,
    /// `links`, `memberships`).
    AdminUpstreamRemove,
    /// A user approved a device's request at the verification page (RFC
    /// 8628): `client`, `scope`, `sid`.
    DeviceApprove,
    /// A user declined one.
    DeviceDeny,
}

impl Kind {
    pub const ALL: [Kind; 50] = [
        Kind::LoginSuccess,
        Kind::LoginFailure,
        Kind::LoginThrottled,
        Kind::ConsentGrant,
        Kind::ConsentRevoke,
        Kind::SessionEnd,
        Kind::RefreshReuseDetected,
        Kind::CodeReuseDetected,
        Kind::TokenRevoke,
        Kind::AdminClientCreate,
        Kind::AdminClientUpdate,
        Kind::AdminClientDelete,
        Kind::AdminClientRotateSecret,
        Kind::AdminUserCreate,
        Kind::AdminUserUpdate,
        Kind::AdminUserDisable,
        Kind::AdminUserEnable,
        Kind::AdminUserPassword,
        Kind::AdminUserDelete,
        Kind::AdminUserUnlock,
        Kind::AdminUserSessionEnd,
        Kind::AdminConsentRevoke,
        Kind::AdminKeysRotate,
        Kind::MfaEnrol,
        Kind::MfaRemove,
        Kind::MfaSuccess,
        Kind::MfaFailure,
        Kind::MfaThrottled,
        Kind::MfaRecoveryCodes,
        Kind::PasswordChange,
        Kind::ProfileUpdate,
        Kind::AdminUserResetMfa,
        Kind::AdminUserSendLink,
        Kind::PasswordReset,
        Kind::EmailVerify,
        Kind::UserRegister,
        Kind::UpstreamLogin,
        Kind::UpstreamRefused,
        Kind::UpstreamLink,
        Kind::UpstreamUnlink,
        Kind::AdminGroupCreate,
        Kind::AdminGroupDelete,
        Kind::AdminGroupMemberAdd,
        Kind::AdminGroupMemberRemove,
        Kind::AuthorizeNotAdmitted,
        Kind::GroupsSync,
        Kind::AdminUpstreamAdd,
        Kind::AdminUpstreamRemove,
        Kind::DeviceApprove,
        Kind::DeviceDeny,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginSuccess => "login.success",
            Kind::LoginFailure => "login.failure",
            Kind::LoginThrottled => "login.throttled",
            Kind::ConsentGrant => "consent.grant",
            Kind::ConsentRevoke => "consent.revoke",
            Kind::SessionEnd => "session.end",
            Kind::RefreshReuseDetected => "refresh.reuse_detected",
            Kind::CodeReuseDetected => "code.reuse_detected",
            Kind::TokenRevoke => "token.revoke",
            Kind::AdminClientCreate => "admin.client.create",
            Kind::AdminClientUpdate => "admin.client.update",
            Kind::AdminClientDelete => "admin.client.delete",
            Kind::AdminClientRotateSecret => "admin.client.rotate_secret",
            Kind::AdminUserCreate => "admin.user.create",
            Kind::AdminUserUpdate => "admin.user.update",
            Kind::AdminUserDisable => "admin.user.disable",
            Kind::AdminUserEnable => "admin.user.enable",
            Kind::AdminUserPassword => "admin.user.password",
            Kind::AdminUserDelete => "admin.user.delete",
            Kind::AdminUserUnlock => "admin.user.unlock",
            Kind::AdminUserSessionEnd => "admin.user.session_end",
            Kind::AdminConsentRevoke => "admin.consent.revoke",
            Kind::AdminKeysRotate => "admin.keys.rotate",
            Kind::MfaEnrol => "mfa.enrol",
            Kind::MfaRemove => "mfa.remove",
            Kind::MfaSuccess => "mfa.success",
            Kind::MfaFailure => "mfa.failure",
            Kind::MfaThrottled => "mfa.throttled",
            Kind::MfaRecoveryCodes => "mfa.recovery_codes",
            Kind::PasswordChange => "password.change",
            Kind::ProfileUpdate => "profile.update",
            Kind::AdminUserResetMfa => "admin.user.reset_mfa",
            Kind::AdminUserSendLink => "admin.user.send_link",
            Kind::PasswordReset => "password.reset",
            Kind::EmailVerify => "email.verify",
            Kind::UserRegister => "user.register",
            Kind::UpstreamLogin => "upstream.login",
            Kind::UpstreamRefused => "upstream.refused",
            Kind::UpstreamLink => "upstream.link",
            Kind::UpstreamUnlink => "upstream.unlink",
            Kind::AdminGroupCreate => "admin.group.create",
            Kind::AdminGroupDelete => "admin.group.delete",
            Kind::AdminGroupMemberAdd => "admin.group.member_add",
            Kind::AdminGroupMemberRemove => "admin.group.member_remove",
            Kind::AuthorizeNotAdmitted => "authorize.not_admitted",
            Kind::GroupsSync => "groups.sync",
            Kind::AdminUpstreamAdd => "admin.upstream.add",
            Kind::AdminUpstreamRemove => "admin.upstream.remove",
            Kind::DeviceApprove => "device.approve",
            Kind::DeviceDeny => "device.deny",
        }
    }

    /// The outcome every event of this kind has.
    pub fn outcome(self) -> Outcome {
        match self {
            Kind::LoginFailure | Kind::MfaFailure => Outcome::Failure,
            Kind::LoginThrottled
            | Kind::MfaThrottled
            | Kind::UpstreamRefused
            | Kind::AuthorizeNotAdmitted
            | Kind::RefreshReuseDetected
            | Kind::CodeReuseDetected => Outcome::Refused,
            _ => Outcome::Success,
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Wrong credentials.
    Failure,
    /// Refused without checking, or an attack was detected and stopped.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Refused => "refused",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in (or signing-in) user, by `sub`.
    User(String),
    /// A client acting with its own credentials (e.g. at `/revoke`).
    Client(ClientId),
    /// The admin REST API (its bearer token names no one).
    AdminApi,
    /// The command line, on the server's database.
    Cli,
    /// The configuration file: applied at start-up (`[[users]]` groups), or
    /// carried out by the server (`key_rotation_period_secs`).
    Config,
}

impl Actor {
    /// As stored and filtered on: the `sub`, `client:ID`, `admin-api`,
    /// `cli` or `config` (subs are UUIDs and client ids are never UUID-shaped, so none
    /// of these can be mistaken for another).
    pub fn as_string(&self) -> String {
        match self {
            Actor::User(sub) => sub.clone(),
            Actor::Client(id) => format!("client:{}", id.as_str()),
            Actor::AdminApi => "admin-api".to_owned(),
            Actor::Cli => "cli".to_owned(),
            Actor::Config => "config".to_owned(),
        }
    }
}

/// One audit event. Built by [`AuditEvent::new`] and the typed setters; read
/// back from the store by [`AuditEvent::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    id: String,
    at: UnixTime,
    kind: String,
    outcome: String,
    request_id: Option<String>,
    actor: Option<String>,
    subject: Option<String>,
    client_id: Option<String>,
    peer: Option<String>,
    detail: Map<String, Value>,
}

/// The stored columns of an event, for [`AuditEvent::restore`].
#[derive(Debug, Clone, Default)]
pub struct StoredAuditEvent {
    pub id: String,
    pub at: UnixTime,
    pub kind: String,
    pub outcome: String,
    pub request_id: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub peer: Option<String>,
    pub detail: Map<String, Value>,
}

impl AuditEvent {
    /// A new event of `kind` at `at`, with the id the recorder assigned
    /// (sortable: ties on `at` are ordered by it).
    pub fn new(id: String, kind: Kind, at: UnixTime) -> AuditEvent {
        AuditEvent {
            id,
            at,
            kind: kind.as_str().to_owned(),
            outcome: kind.outcome().as_str().to_owned(),
            request_id: None,
            actor: None,
            subject: None,
            client_id: None,
            peer: None,
            detail: Map::new(),
        }
    }

    /// An event as the store kept it. Only for reading back: what was
    /// written went through the typed setters.
    pub fn restore(s: StoredAuditEvent) -> AuditEvent {
        AuditEvent {
            id: s.id,
            at: s.at,
            kind: s.kind,
            outcome: s.outcome,
            request_id: s.request_id,
            actor: s.actor,
            subject: s.subject,
            client_id: s.client_id,
            peer: s.peer,
            detail: s.detail,
        }
    }

    // ----- who, to whom, from where -----

    pub fn actor(mut self, actor: &Actor) -> Self {
        self.actor = Some(actor.as_string());
        self
    }
    /// The user the event is about, by `sub`.
    pub fn subject(mut self, sub: &str) -> Self {
        self.subject = Some(sub.to_owned());
        self
    }
    pub fn client(mut self, client_id: &ClientId) -> Self {
        self.client_id = Some(client_id.as_str().to_owned());
        self
    }
    pub fn peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer.to_string());
        self
    }
    /// The id the request-id middleware gave the request (ours, random).
    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_owned());
        self
    }

    // ----- detail: ids, names and counts only -----

    fn put(mut self, key: &'static str, value: Value) -> Self {
        self.detail.insert(key.to_owned(), value);
        self
    }
    /// A grant's id (it names the grant; it authorizes nothing).
    pub fn grant_id(self, grant_id: &str) -> Self {
        self.put("grant_id", Value::from(grant_id))
    }
    /// An SSO session's public id, the `sid` claim (never the cookie).
    pub fn sid(self, sid: &str) -> Self {
        self.put("sid", Value::from(sid))
    }
    /// A space-separated scope (scope names only).
    pub fn scope(self, scope: &str) -> Self {
        self.put("scope", Value::from(scope))
    }
    /// A username or e-mail address as the account's name (not a login
    /// text someone typed: that may be a mistyped password).
    pub fn username(self, username: &str) -> Self {
        self.put("username", Value::from(username))
    }
    /// The names of the fields a change touched (never their values).
    pub fn fields<S: AsRef<str>>(self, names: &[S]) -> Self {
        let names: Vec<Value> = names.iter().map(|n| Value::from(n.as_ref())).collect();
        self.put("fields", Value::Array(names))
    }
    /// An upstream identity provider's configured id.
    pub fn idp(self, id: &str) -> Self {
        self.put("idp", Value::from(id))
    }
    /// A group's name.
    pub fn group(self, name: &str) -> Self {
        self.put("group", Value::from(name))
    }
    /// A signing key's `kid`.
    pub fn kid(self, kid: &str) -> Self {
        self.put("kid", Value::from(kid))
    }
    /// RFC 8176 method names.
    pub fn amr(self, amr: &[String]) -> Self {
        self.fields_named("amr", amr)
    }
    fn fields_named(self, key: &'static str, names: &[String]) -> Self {
        let names: Vec<Value> = names.iter().map(|n| Value::from(n.as_str())).collect();
        self.put(key, Value::Array(names))
    }
    /// A number of things (sessions ended, counters cleared).
    pub fn count(self, key: &'static str, n: u64) -> Self {
        self.put(key, Value::from(n))
    }
    /// A fixed name chosen in the code: a reason, a token type, a key use.
    pub fn label(self, key: &'static str, value: &'static str) -> Self {
        self.put(key, Value::from(value))
    }
    /// A yes/no fact.
    pub fn flag(self, key: &'static str, value: bool) -> Self {
        self.put(key, Value::from(value))
    }

    // ----- reading -----

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn at(&self) -> UnixTime {
        self.at
    }
    pub fn kind(&self) -> &str {
        &self.kind
    }
    pub fn outcome(&self) -> &str {
        &self.outcome
    }
    pub fn request_id_value(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    pub fn actor_value(&self) -> Option<&str> {
        self.actor.as_deref()
    }
    pub fn subject_value(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    pub fn client_id_value(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    pub fn peer_value(&self) -> Option<&str> {
        self.peer.as_deref()
    }
    pub fn detail(&self) -> &Map<String, Value> {
        &self.detail
    }

    /// The event as JSON, the shape of `GET /admin/audit` and of the log.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "at": self.at,
            "kind": self.kind,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "actor": self.actor,
            "subject": self.subject,
            "client_id": self.client_id,
            "peer": self.peer,
            "detail": self.detail,
        })
    }
}

/// Something core saw that deserves an audit event, returned with the
/// error it caused (core records nothing itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incident {
    /// A consumed refresh token was presented again; its grant is revoked.
    RefreshReuse {
        grant_id: String,
        sub: String,
        client_id: ClientId,
    },
    /// A redeemed authorization code was presented again; its grant is
    /// revoked.
    CodeReuse {
        grant_id: String,
        sub: Option<String>,
        client_id: ClientId,
    },
}

impl Incident {
    /// The event that reports it.
    pub fn event(&self, id: String, at: UnixTime) -> AuditEvent {
        match self {
            Incident::RefreshReuse {
                grant_id,
                sub,
                client_id,
            } => AuditEvent::new(id, Kind::RefreshReuseDetected, at)
                .actor(&Actor::Client(client_id.clone()))
                .subject(sub)
                .client(client_id)
                .grant_id(grant_id),
            Incident::CodeReuse {
                grant_id,
                sub,
                client_id,
            } => {
                let e = AuditEvent::new(id, Kind::CodeReuseDetected, at)
                    .actor(&Actor::Client(client_id.clone()))
                    .client(client_id)
                    .grant_id(grant_id);
                match sub {
                    Some(s) => e.subject(s),
                    None => e,
                }
            }
        }
    }
}

/// A filter on `kind`: the kind itself and every kind under it
/// (`login` → `login`, `login.success`, …). Lower-case ASCII letters,
/// digits, `_` and `.` only, at most 64 characters; a trailing `.*` or `.`
/// is the same as none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindFilter(String);

impl KindFilter {
    pub fn parse(s: &str) -> Option<KindFilter> {
        let s = s.strip_suffix(".*").unwrap_or(s);
        let s = s.strip_suffix('.').unwrap_or(s);
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        ok.then(|| KindFilter(s.to_owned()))
    }
    /// The kind itself.
    pub fn exact(&self) -> &str {
        &self.0
    }
    /// The half-open range `[KIND., KIND/)` of the kinds under it (`/`
    /// follows `.` in ASCII), for an index range scan.
    pub fn below(&self) -> (String, String) {
        (format!("{}.", self.0), format!("{}/", self.0))
    }
}

/// A read of the audit trail: filters, then one page, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub kind: Option<KindFilter>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub actor: Option<String>,
    /// `at >= since`.
    pub since: Option<UnixTime>,
    /// `at < until`.
    pub until: Option<UnixTime>,
    /// Strictly after this `(at, id)` (the keyset cursor).
    pub after: Option<(UnixTime, String)>,
    /// Rows to return at most.
    pub limit: u32,
}

/// The cursor key of an event: `(at, id)`, as text for [`crate::page`].
pub fn cursor_key(e: &AuditEvent) -> String {
    format!("{}:{}", e.at, e.id)
}

/// The inverse of [`cursor_key`].
pub fn parse_cursor_key(key: &str) -> Option<(UnixTime, String)> {
    let (at, id) = key.split_once(':')?;
    let at = at.parse().ok()?;
    (!id.is_empty()).then(|| (at, id.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kind_names_are_unique_and_dotted() {
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| KindFilter::parse(n).is_some() && n.contains('.'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    fn kind_filters() {
        assert_eq!(KindFilter::parse("login.*").unwrap().exact(), "login");
        assert_eq!(KindFilter::parse("login.").unwrap().exact(), "login");
        let f = KindFilter::parse("admin.user").unwrap();
        assert_eq!(f.below(), ("admin.user.".into(), "admin.user/".into()));
        for bad in ["", ".*", "Login", "login%", "a b", &"x".repeat(65)] {
            assert_eq!(KindFilter::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cursor_keys_round_trip() {
        let e = AuditEvent::new("0190-ab".into(), Kind::LoginSuccess, 1_700_000_000);
        assert_eq!(
            parse_cursor_key(&cursor_key(&e)),
            Some((1_700_000_000, "0190-ab".into()))
        );
        for bad in ["", "12", "x:y", "12:"] {
            assert_eq!(parse_cursor_key(bad), None, "{bad:?}");
        }
    }
}
