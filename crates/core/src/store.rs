//! The storage contract. Each method is one intent and one transaction; the
//! store answers "did the atomic update win?", never "is this grant valid?".
//! Hashes go in, never plaintext secrets or tokens.

use std::future::Future;

use crate::audit::{AuditEvent, AuditQuery};
use crate::model::{
    AuthorizationCode, Client, ClientId, ClientSecret, Consent, DeviceAuthorization, Grant, Group,
    GroupMember, GroupSync, Issued, LinkRedemption, LinkToken, OpaqueToken, PasskeyRecord,
    PushedRequest, Redemption, RefreshToken, Rotation, Session, StoredKey, StoredUpstream,
    TotpCredential, UnixTime, UpstreamLink, UpstreamRemoval, User, UserClaims,
};
use crate::sweep::{SweepCutoffs, Swept};

/// Errors a store can report. Protocol code maps `Unavailable` to 503 and
/// `Internal` to `server_error`; `Conflict` is a caller's mistake.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key (client_id, username, email) is already taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database could not be reached (connection refused, pool timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the driver reported; never shown to clients.
    #[error("database error: {0}")]
    Internal(String),
}

/// Result of [`Store::update_user_password`] and friends that address one row.
pub type Found = bool;

/// The intents the protocol needs from storage.
pub trait Store: Send + Sync {
    /// Liveness of the database, for `/health/ready`.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ----- clients -----
    /// A client with its active secrets (expired ones are still returned;
    /// core ignores them by `expires_at`). May come from a cache at most one
    /// second old; a client that does not exist is never cached.
    fn client(
        &self,
        id: &ClientId,
    ) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;
    /// Like [`Store::client`], but always from the database, never from a
    /// cache (the caller saw a stale record: e.g. a secret rotated by
    /// another process).
    /// The record of `id` this process still holds from an earlier read,
    /// however old, without touching the database; `None` if it holds none.
    /// Only for deciding whether a request is worth serving at all (see
    /// [`crate::client::admits_while_throttled`]): a stale record may
    /// predate a revoked secret, so it never authenticates by itself.
    fn remembered_client(&self, id: &ClientId) -> Option<Client>;
    fn client_refreshed(
        &self,
        id: &ClientId,
    ) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;
    fn list_clients(&self) -> impl Future<Output = Result<Vec<Client>, StoreError>> + Send;
    /// At most `limit` clients with a `client_id` after `after`, in
    /// `client_id` order (keyset pagination).
    fn clients_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Client>, StoreError>> + Send;
    /// Inserts a new client with its secrets; `Conflict` if the id exists.
    fn create_client(&self, client: &Client)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the metadata of an existing client (secrets untouched).
    fn update_client(
        &self,
        client: &Client,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Creates or replaces a client *and* its secrets (declarative bootstrap).
    fn upsert_client(&self, client: &Client)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete_client(
        &self,
        id: &ClientId,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Atomically: every existing secret of the client that has no expiry gets
    /// `expires_at = previous_valid_until`; secrets already expired at `now`
    /// are deleted; `new` is inserted. At most two secrets stay usable.
    fn rotate_client_secret(
        &self,
        id: &ClientId,
        new: &ClientSecret,
        previous_valid_until: UnixTime,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;

    // ----- users -----
    /// `Conflict` when the username or the email is taken.
    fn create_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Creates or replaces by username, keeping the existing `sub` (bootstrap).
    fn upsert_user(&self, user: &User) -> impl Future<Output = Result<User, StoreError>> + Send;
    fn user(&self, sub: &str) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// Looks a user up by username, or by email (case-insensitive for email).
    fn user_by_login(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    /// At most `limit` users with a username after `after`, in username
    /// order (keyset pagination).
    fn users_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    /// Also ends every session of the user and revokes every grant (and so
    /// every refresh token) of the user, in the same transaction.
    fn set_user_password(
        &self,
        sub: &str,
        password_hash: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Disabling also ends the user's sessions and revokes their grants, in
    /// the same transaction.
    fn set_user_disabled(
        &self,
        sub: &str,
        disabled: bool,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    fn update_user_claims(
        &self,
        sub: &str,
        claims: &UserClaims,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Deletes the user with their sessions, grants, codes, refresh tokens,
    /// consents, link tokens, upstream links and group memberships.
    fn delete_user(&self, sub: &str) -> impl Future<Output = Result<Found, StoreError>> + Send;

    // ----- signing keys -----
    /// All keys, oldest first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;
    /// Inserts a new key and, in the same transaction, sets `retired_at =
    /// key.activates_at` on every other key of the same `key_use` that has no
    /// `retired_at` yet. Under the key lock, like
    /// [`Store::add_signing_keys_locked`].
    fn put_signing_key(
        &self,
        key: &StoredKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Under a lock that every process on this database takes for it, in
    /// one transaction: reads every key, lets `choose` pick keys to add
    /// from what it read, inserts them as [`Store::put_signing_key`] does,
    /// and returns every key as stored afterwards. Two callers never both
    /// decide on the state before the other's insert, so a decision such as
    /// "there is no access-token key yet" ([`crate::keys::first_keys_needed`])
    /// is taken by one of them only; the other sees the keys it added.
    fn add_signing_keys_locked<F>(
        &self,
        choose: F,
    ) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send
    where
        F: FnOnce(&[StoredKey]) -> Vec<StoredKey> + Send;
    /// Deletes keys retired before `cutoff` (they signed nothing still valid).
    fn delete_keys_retired_before(
        &self,
        cutoff: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    // ----- tokens -----
    fn put_opaque_token(
        &self,
        token: &OpaqueToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn opaque_token(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<OpaqueToken>, StoreError>> + Send;
    /// Marks an opaque token revoked; `false` when no such token exists.
    fn revoke_opaque_token(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Records a revoked JWT `jti` until the token's own expiry (idempotent).
    fn revoke_jti(
        &self,
        jti: &str,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn is_jti_revoked(&self, jti: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records a single-use value as seen until `expires_at`: `true` when
    /// this call recorded it, `false` when it was seen before and is still
    /// remembered (a replay). One statement, so two nodes racing with the
    /// same value get one `true`. A row past its `expires_at` the sweeper
    /// has not removed yet counts as not seen. The key is a SHA-256 with
    /// its own domain per kind, so kinds never collide: DPoP proofs (RFC
    /// 9449 §11.1, `frontdesk_jose::dpop::VerifiedProof::replay_key`),
    /// client assertions (RFC 7523 §3 `jti`; request objects' `jti`s are
    /// not single-used, RFC 9101 does not ask it), and passkey ceremony
    /// states (the binary's `passkeys.rs`). The table is
    /// `dpop_proofs`, named after its first user.
    fn use_once(
        &self,
        replay_key: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// One round of the sweeper: deletes what `at` says may go (see
    /// [`crate::sweep`]: expired opaque tokens, `jti` records, sessions,
    /// login-failure windows, links; grants past their lifetime with their
    /// codes and refresh tokens; spent codes and refresh tokens and the
    /// grants they leave empty; old audit events) in batches: each batch is
    /// its own short transaction deleting at most `batch` rows of one table,
    /// repeated until a batch deletes fewer. One process at a time per
    /// database: `Ok(None)` when another one is sweeping right now (nothing
    /// was done). Each row is counted by the one round that deleted it.
    fn sweep_expired(
        &self,
        at: &SweepCutoffs,
        batch: u32,
    ) -> impl Future<Output = Result<Option<Swept>, StoreError>> + Send;
    /// The rows in each of [`crate::sweep::SWEPT_TABLES`], in that order:
    /// exact, or the database's own estimate where counting would be slow
    /// (the backend says which).
    fn table_rows(
        &self,
    ) -> impl Future<Output = Result<Vec<(&'static str, u64)>, StoreError>> + Send;

    // ----- SSO sessions -----
    fn put_session(&self, session: &Session)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The session whose cookie hashes to `id_hash` (ended or not; core checks).
    fn session(
        &self,
        id_hash: &[u8],
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;
    /// Ends the session with this `sid` and revokes every grant made in it,
    /// in one transaction. `false` when no such live session exists.
    fn end_session(
        &self,
        sid: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// The live sessions of `sub` at `now` (not ended, not expired), oldest
    /// first (by `created_at`, then `sid`).
    fn list_sessions(
        &self,
        sub: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;
    /// Ends every live session of `sub` but the one whose `sid` is
    /// `except_sid`, and revokes every grant made in them (as
    /// [`Store::end_session`] does), in one transaction. Returns how many
    /// sessions it ended.
    fn end_sessions_of(
        &self,
        sub: &str,
        now: UnixTime,
        except_sid: Option<&str>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    // ----- authorization codes and grants -----
    /// Stores a new grant and its code in one transaction.
    /// Stores a grant with nothing hanging off it yet: the grant of the
    /// tokens a token exchange derives from an ID token, so that ending
    /// the session (which revokes its grants) ends them.
    fn put_grant(&self, grant: &Grant) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn put_authorization(
        &self,
        grant: &Grant,
        code: &AuthorizationCode,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The code and its grant, used or not, without spending anything.
    fn code(
        &self,
        code_hash: &[u8],
    ) -> impl Future<Output = Result<Option<(AuthorizationCode, Grant)>, StoreError>> + Send;
    /// One transaction: the conditional `UPDATE … SET used_at = now WHERE
    /// used_at IS NULL`, and when it wins, the rows of `issued`. When the
    /// code was used before: with `retry_grace = Some(grace)` (the caller
    /// checked that this request is the same redemption) and
    /// `now - used_at < grace` (strict, so 0 accepts none), `Retried` and
    /// nothing written; otherwise the grant is revoked and `AlreadyUsed`.
    /// Expiry of an unused code is not checked here (core does, before).
    fn redeem_code(
        &self,
        code_hash: &[u8],
        now: UnixTime,
        issued: &Issued,
        retry_grace: Option<i64>,
    ) -> impl Future<Output = Result<Redemption, StoreError>> + Send;
    fn grant(
        &self,
        grant_id: &str,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;
    /// Sets `revoked_at` if not set yet; `false` when no such grant exists.
    fn revoke_grant(
        &self,
        grant_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;

    // ----- refresh tokens -----
    fn put_refresh_token(
        &self,
        token: &RefreshToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A refresh token and its grant.
    fn refresh_token(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<(RefreshToken, Grant)>, StoreError>> + Send;
    /// Atomically consumes `old_hash` and stores `new` (see [`Rotation`]):
    /// `UPDATE … SET consumed_at = now, replaced_by = new.token_hash WHERE
    /// token_hash = old AND consumed_at IS NULL`, then the insert, in one
    /// transaction. If `old` was already consumed: `Retried` when
    /// `replaced_by == new.token_hash` and `now - consumed_at < grace_secs`
    /// (nothing written), otherwise the grant is revoked and `Reused`. The
    /// comparison is strict on the whole-second clock, so a retry is never
    /// accepted later than `grace_secs` after the rotation, and `grace_secs
    /// = 0` accepts none: every reuse is a replay (RFC 9700 §4.14.2).
    ///
    /// `opaque`, the row of an opaque access token for this refresh, is
    /// stored in the same transaction on `Rotated` and on `Retried` (where
    /// it may exist already: the insert then does nothing).
    fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new: &RefreshToken,
        opaque: Option<&OpaqueToken>,
        now: UnixTime,
        grace_secs: i64,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;
    /// A refresh without rotation (a FAPI 2.0 client): the same token's
    /// idle expiry moves to `expires_at`, and `opaque` (the new access
    /// token, if opaque) is stored, in one transaction — only while the
    /// token is unconsumed and unexpired at `now` and its grant is live.
    /// `false`: nothing written.
    fn renew_refresh(
        &self,
        token_hash: &[u8],
        expires_at: UnixTime,
        opaque: Option<&OpaqueToken>,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;

    // ----- consent -----
    fn consent(
        &self,
        sub: &str,
        client_id: &ClientId,
    ) -> impl Future<Output = Result<Option<Consent>, StoreError>> + Send;
    /// Creates or replaces the consent of (sub, client_id).
    fn put_consent(&self, consent: &Consent)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    fn list_consents(
        &self,
        sub: &str,
    ) -> impl Future<Output = Result<Vec<Consent>, StoreError>> + Send;
    /// Withdraws what `sub` allowed `client_id`: deletes the consent and, in
    /// the same transaction, revokes every live grant of that user to that
    /// client, so its refresh tokens and access tokens stop working too.
    /// `false` when there was neither a consent nor a live grant.
    fn revoke_consent(
        &self,
        sub: &str,
        client_id: &ClientId,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;

    // ----- e-mailed links -----
    /// Stores a new link token (its hash; the token itself is only in the mail).
    fn put_link_token(
        &self,
        token: &LinkToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The token stored under `token_hash`, spent or not, expired or not.
    fn link_token(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<LinkToken>, StoreError>> + Send;
    /// Spends a `reset_password` token and sets the password, in one
    /// transaction: `UPDATE … SET used_at = now WHERE token_hash = $1 AND
    /// purpose = 'reset_password' AND used_at IS NULL AND expires_at > now`
    /// (only one caller wins), then what [`Store::set_user_password`] does
    /// (every session ended, every grant revoked), every other open reset
    /// token of the user spent, and — when the link went to the address the
    /// account still has, which the click proves the user reads — that
    /// address marked verified (and `verify_before_sign_in` cleared). A
    /// token that does not win is reported as `AlreadyUsed`, `Expired` or
    /// `Unknown` (also for a token of the other purpose), and nothing changes.
    fn reset_password_by_link(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<LinkRedemption, StoreError>> + Send;
    /// Spends a `verify_email` token and, in the same transaction, sets
    /// `email_verified` (and clears `verify_before_sign_in`) when the
    /// account's address is still the one the link went to
    /// (`AddressChanged` otherwise, the token spent all the same). The same
    /// single conditional update and outcomes as
    /// [`Store::reset_password_by_link`].
    fn verify_email_by_link(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> impl Future<Output = Result<LinkRedemption, StoreError>> + Send;

    // ----- pushed authorization requests (RFC 9126) -----
    /// Stores a new pushed request (under the hash of its `request_uri`).
    fn put_pushed_request(
        &self,
        request: &PushedRequest,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The pushed request under `uri_hash`, in any state.
    fn pushed_request(
        &self,
        uri_hash: &[u8],
    ) -> impl Future<Output = Result<Option<PushedRequest>, StoreError>> + Send;
    /// The browser's first arrival: `UPDATE … SET continuation_hash = $c,
    /// expires_at = $until WHERE uri_hash = $1 AND client_id = $2 AND
    /// continuation_hash IS NULL AND used_at IS NULL AND expires_at > now`,
    /// returning the row as updated. Only one caller ever wins, so a
    /// `request_uri` opens once; `None` for anything else.
    fn open_pushed_request(
        &self,
        uri_hash: &[u8],
        client_id: &ClientId,
        continuation_hash: &[u8],
        until: UnixTime,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<PushedRequest>, StoreError>> + Send;
    /// Replaces the parameters of an opened, unspent, unexpired request
    /// (a `prompt` value the user just satisfied); `false` if none matches.
    fn update_pushed_request(
        &self,
        uri_hash: &[u8],
        continuation_hash: &[u8],
        params: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// The single-use gate: `UPDATE … SET used_at = now WHERE uri_hash = $1
    /// AND continuation_hash = $2 AND used_at IS NULL AND expires_at > now`;
    /// `true` for the one caller that spent it.
    fn spend_pushed_request(
        &self,
        uri_hash: &[u8],
        continuation_hash: &[u8],
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;

    // ----- device authorization (RFC 8628) -----
    /// Stores a new device authorization request; `Conflict` when its
    /// user code's hash is taken (the caller draws another).
    fn put_device_authorization(
        &self,
        device: &DeviceAuthorization,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The request under the hash of its `device_code`, in any state.
    fn device_authorization(
        &self,
        device_code_hash: &[u8],
    ) -> impl Future<Output = Result<Option<DeviceAuthorization>, StoreError>> + Send;
    /// The request under the keyed hash of its `user_code`, in any state.
    fn device_by_user_code(
        &self,
        user_code_hash: &[u8],
    ) -> impl Future<Output = Result<Option<DeviceAuthorization>, StoreError>> + Send;
    /// One poll of a pending request: `UPDATE … SET last_poll_at = now,
    /// interval = $interval WHERE device_code_hash = $1 AND status =
    /// 'pending' AND last_poll_at IS NOT DISTINCT FROM $seen`. `false` when
    /// another poll came first (the caller answers `slow_down`).
    fn note_device_poll(
        &self,
        device_code_hash: &[u8],
        seen: Option<UnixTime>,
        interval: i64,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// The user's approval, in one transaction: `UPDATE … SET status =
    /// 'approved', sub WHERE user_code_hash = $1 AND status = 'pending' AND
    /// expires_at > now`, and only if that won, the grant and its code.
    /// `false` when the request is no longer pending.
    fn approve_device(
        &self,
        user_code_hash: &[u8],
        grant: &Grant,
        code: &AuthorizationCode,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// The user's refusal: the same conditional update to `denied`.
    fn deny_device(
        &self,
        user_code_hash: &[u8],
        sub: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;

    // ----- login throttling -----
    /// Records one failed login for `key` (e.g. `acct:alice`, `ip:1.2.3.4`)
    /// and returns the failures counted in the current window: a window
    /// starts at the first failure and lasts `window_secs`; a failure after
    /// the window starts a new one at 1. Atomic: N concurrent calls count N.
    fn note_login_failure(
        &self,
        key: &str,
        now: UnixTime,
        window_secs: i64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
    /// Failures counted for `key` in its current window (0 if the window ended).
    fn login_failures(
        &self,
        key: &str,
        now: UnixTime,
        window_secs: i64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
    fn clear_login_failures(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Takes back one failure noted for `key` (never below zero): for an
    /// attempt counted before it was checked that turned out to succeed.
    fn forgive_login_failure(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ----- second factors -----
    fn totp_credential(
        &self,
        sub: &str,
    ) -> impl Future<Output = Result<Option<TotpCredential>, StoreError>> + Send;
    /// Starts (or restarts) a TOTP enrolment with a sealed secret. `false`
    /// when the user already has a confirmed credential (it is kept).
    fn put_totp_enrolment(
        &self,
        sub: &str,
        secret_sealed: &[u8],
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Confirms the enrolment in progress with the step of the code the
    /// user typed and, in the same transaction, replaces the user's
    /// recovery codes with `recovery_hashes`. `false` when there was no
    /// enrolment in progress (nothing written).
    fn confirm_totp(
        &self,
        sub: &str,
        step: i64,
        recovery_hashes: &[Vec<u8>],
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// The single-use gate of TOTP codes (RFC 6238 §5.2): records `step`
    /// as used if it is later than every step accepted before, in one
    /// conditional update. `false`: a replay (or no confirmed credential).
    fn use_totp_step(
        &self,
        sub: &str,
        step: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes the user's TOTP credential and recovery codes.
    fn remove_mfa(&self, sub: &str) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// The user's passkeys, oldest first.
    fn passkeys_of(
        &self,
        sub: &str,
    ) -> impl Future<Output = Result<Vec<PasskeyRecord>, StoreError>> + Send;
    /// The passkey with this credential id, whoever's it is.
    fn passkey(
        &self,
        credential_id: &[u8],
    ) -> impl Future<Output = Result<Option<PasskeyRecord>, StoreError>> + Send;
    /// Registers a passkey; `false` when its credential id is registered
    /// already (to this user or another: it is never taken over).
    fn add_passkey(
        &self,
        passkey: &PasskeyRecord,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Records a sign-in with the passkey: its updated record (signature
    /// counter, backup state) and the time.
    fn use_passkey(
        &self,
        credential_id: &[u8],
        credential: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Removes one passkey of the user; `false` when the user has none with
    /// that id.
    fn remove_passkey(
        &self,
        sub: &str,
        credential_id: &[u8],
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Removes every passkey of the user; how many there were.
    fn remove_passkeys(&self, sub: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
    // ----- groups -----
    /// `Conflict` when a group of that name exists. Memberships left by an
    /// earlier group of the same name are dropped in the same transaction.
    fn create_group(&self, group: &Group) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn group(&self, name: &str) -> impl Future<Output = Result<Option<Group>, StoreError>> + Send;
    /// At most `limit` groups named after `after`, by name (keyset).
    fn groups_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Group>, StoreError>> + Send;
    /// Deletes the group and its memberships in one transaction.
    fn delete_group(&self, name: &str) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Makes the user a member. `false` when they are one already, or when
    /// the group or the user does not exist (the caller tells which).
    fn add_group_member(
        &self,
        name: &str,
        sub: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Ends the membership, whoever made it (a source's comes back at the
    /// user's next sign-in through it).
    fn remove_group_member(
        &self,
        name: &str,
        sub: &str,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// At most `limit` members with a username after `after`, by username.
    fn group_members_page(
        &self,
        name: &str,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<GroupMember>, StoreError>> + Send;
    /// The names of the groups the user is a member of, by name, whoever
    /// made them a member.
    fn groups_of(&self, sub: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Makes the user's memberships from `source` (an upstream's or a
    /// directory's id; never empty: `add_group_member`'s are the local ones)
    /// exactly `groups`, in one transaction, leaving every other
    /// membership alone. With `create`, a group that does not exist is
    /// created (described as coming from the source); without, a name that
    /// is not a group here is passed over. The names added and removed.
    fn sync_group_members(
        &self,
        sub: &str,
        source: &str,
        groups: &[String],
        create: bool,
        now: UnixTime,
    ) -> impl Future<Output = Result<GroupSync, StoreError>> + Send;

    // ----- upstream identity providers -----
    /// The upstreams added at run time, oldest first.
    fn stored_upstreams(
        &self,
    ) -> impl Future<Output = Result<Vec<StoredUpstream>, StoreError>> + Send;
    /// `Conflict` naming `upstreams.id` when that id is stored already.
    fn create_upstream(
        &self,
        upstream: &StoredUpstream,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes a stored upstream with every account's link to it and every
    /// group membership its sign-ins made, in one transaction (a later
    /// upstream of the same id, perhaps another provider, must find no
    /// link to take over). `None` when no upstream of that id is stored.
    fn delete_upstream(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<UpstreamRemoval>, StoreError>> + Send;
    /// Who signs in when `upstream` asserts `upstream_sub`, if anyone.
    fn upstream_link(
        &self,
        upstream: &str,
        upstream_sub: &str,
    ) -> impl Future<Output = Result<Option<UpstreamLink>, StoreError>> + Send;
    /// The account's links, oldest first.
    fn upstream_links_of(
        &self,
        sub: &str,
    ) -> impl Future<Output = Result<Vec<UpstreamLink>, StoreError>> + Send;
    /// Joins an upstream account to an existing account. `false` when the
    /// upstream account is linked already (to any account), or the account
    /// has a link to that upstream already: a link is never taken over.
    fn put_upstream_link(
        &self,
        link: &UpstreamLink,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// A new account and its link in one transaction (just-in-time
    /// provisioning). `Conflict` naming `users.username`, `users.email` or
    /// `upstream_links` when one is taken; then nothing is written.
    fn provision_upstream_user(
        &self,
        user: &User,
        link: &UpstreamLink,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records a sign-in through the link.
    fn use_upstream_link(
        &self,
        upstream: &str,
        upstream_sub: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Removes the account's link to `upstream`.
    fn remove_upstream_link(
        &self,
        sub: &str,
        upstream: &str,
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Replaces every recovery code of the user, in one transaction.
    fn replace_recovery_codes(
        &self,
        sub: &str,
        hashes: &[Vec<u8>],
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Spends one unused recovery code; `false` when none matches.
    fn use_recovery_code(
        &self,
        sub: &str,
        code_hash: &[u8],
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn recovery_codes_left(
        &self,
        sub: &str,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
    /// Step-up of a live session: sets its `amr` and moves it to a new
    /// cookie hash (the session id is renewed at a privilege change). The
    /// `sid`, `auth_time` and expiry stay. `false` when no live session has
    /// `old_id_hash`.
    fn raise_session(
        &self,
        old_id_hash: &[u8],
        new_id_hash: &[u8],
        amr: &[String],
    ) -> impl Future<Output = Result<Found, StoreError>> + Send;
    /// Records that the session was just used to sign in to an application.
    fn touch_session(
        &self,
        sid: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    // ----- audit trail -----
    /// Appends one event (ids are unique; the caller assigns them).
    fn record_audit(
        &self,
        event: &AuditEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The events matching `query`'s filters, ordered by `(at, id)`,
    /// strictly after `query.after`, at most `query.limit` of them.
    fn audit_events(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send;
    /// Deletes events older than `before` (`at < before`); returns how many.
    fn purge_audit(&self, before: UnixTime)
    -> impl Future<Output = Result<u64, StoreError>> + Send;
}
