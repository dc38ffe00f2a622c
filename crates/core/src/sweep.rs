//! What the sweeper may remove, and when: the instants a round of
//! [`crate::store::Store::sweep_expired`] compares rows with. Core decides
//! them; the store only compares.
//!
//! - Opaque tokens, revoked-`jti` records, SSO sessions, login-failure
//!   windows, e-mailed links and pushed authorization requests go at their
//!   own `expires_at` (`<= now`).
//! - Device authorization requests go [`spent_margin`] after their
//!   `expires_at`, so a device polling late still hears `expired_token`.
//! - A grant goes at its absolute `expires_at` (the client's
//!   `refresh_token_ttl` after sign-in), with its codes and refresh tokens;
//!   introspection already refuses its tokens from then on.
//! - Before that, a grant goes as soon as nothing issued from it can still
//!   be valid: **a grant without a live code or refresh token ends when its
//!   last access token expires.** Every access token of a grant is minted
//!   while one of its codes or refresh tokens is unexpired (the code
//!   exchange needs `now < code.expires_at`, a rotation `now <
//!   refresh.expires_at`, and a retry inside the grace window re-mints at
//!   the first rotation's instant), and lives at most `max_token_ttl`. So a
//!   code or refresh token whose `expires_at` is at least
//!   [`spent_margin`] in the past has nothing valid left behind it: it is
//!   swept, and a grant left with no code and no refresh token after that
//!   is swept with it. The grant row is what makes a `jti` of
//!   `GRANT.RANDOM` introspect as active, so it never goes earlier.
//! - Audit events go after the retention the operator set.

use crate::model::UnixTime;

/// The margin after a code's or refresh token's expiry: the longest access
/// token (`max_token_ttl`) plus the clock leeway (another node's clock may
/// run behind the sweeper's). It holds because every access token of a
/// grant is minted at an instant when one of the grant's codes or refresh
/// tokens is unexpired: a retry inside a grace window re-mints at the
/// first answer's instant (`grant::refresh_token`), never later.
pub fn spent_margin(max_token_ttl: i64, leeway: i64) -> i64 {
    max_token_ttl.saturating_add(leeway)
}

/// The instants of one sweep round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepCutoffs {
    /// Rows whose own `expires_at <= now` go (tokens, `jti` records,
    /// sessions, login-failure windows, links, grants past their lifetime).
    pub now: UnixTime,
    /// Codes and refresh tokens with `expires_at <= spent_before` go, and a
    /// grant left without any goes with them (see the module docs).
    pub spent_before: UnixTime,
    /// Audit events with `at < audit_before` go; `None` keeps them all.
    pub audit_before: Option<UnixTime>,
}

impl SweepCutoffs {
    /// The cutoffs at `now` under these settings, keeping audit events for
    /// `audit_retention` seconds (`None`: forever).
    pub fn at(settings: &crate::Settings, now: UnixTime, audit_retention: Option<i64>) -> Self {
        SweepCutoffs {
            now,
            spent_before: now.saturating_sub(spent_margin(settings.max_token_ttl, settings.leeway)),
            audit_before: audit_retention.map(|r| now.saturating_sub(r)),
        }
    }
}

/// The tables a sweep removes rows from, in the order it visits them
/// (children before the grants they hang off, so what goes with a grant is
/// counted under its own table).
pub const SWEPT_TABLES: [&str; 12] = [
    "opaque_tokens",
    "revoked_jtis",
    "dpop_proofs",
    "authorization_codes",
    "refresh_tokens",
    "grants",
    "sessions",
    "login_failures",
    "link_tokens",
    "pushed_requests",
    "device_codes",
    "audit_events",
];

/// Rows one sweep round removed, per table, and the transactions it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub opaque_tokens: u64,
    pub revoked_jtis: u64,
    pub dpop_proofs: u64,
    pub authorization_codes: u64,
    pub refresh_tokens: u64,
    pub grants: u64,
    pub sessions: u64,
    pub login_failures: u64,
    pub link_tokens: u64,
    pub pushed_requests: u64,
    pub device_codes: u64,
    pub audit_events: u64,
    /// Short transactions (batches) the round ran.
    pub batches: u64,
}

impl Swept {
    /// `(table, rows removed)`, in [`SWEPT_TABLES`] order.
    pub fn by_table(&self) -> [(&'static str, u64); 12] {
        let counts = [
            self.opaque_tokens,
            self.revoked_jtis,
            self.dpop_proofs,
            self.authorization_codes,
            self.refresh_tokens,
            self.grants,
            self.sessions,
            self.login_failures,
            self.link_tokens,
            self.pushed_requests,
            self.device_codes,
            self.audit_events,
        ];
        let mut out = [("", 0); 12];
        for (slot, (table, n)) in out.iter_mut().zip(SWEPT_TABLES.into_iter().zip(counts)) {
            *slot = (table, n);
        }
        out
    }

    /// Rows removed in all.
    pub fn total(&self) -> u64 {
        self.by_table().iter().map(|(_, n)| n).sum()
    }

    /// The counter of `table` (one of [`SWEPT_TABLES`]).
    pub fn count_mut(&mut self, table: &str) -> Option<&mut u64> {
        Some(match table {
            "opaque_tokens" => &mut self.opaque_tokens,
            "revoked_jtis" => &mut self.revoked_jtis,
            "dpop_proofs" => &mut self.dpop_proofs,
            "authorization_codes" => &mut self.authorization_codes,
            "refresh_tokens" => &mut self.refresh_tokens,
            "grants" => &mut self.grants,
            "sessions" => &mut self.sessions,
            "login_failures" => &mut self.login_failures,
            "link_tokens" => &mut self.link_tokens,
            "pushed_requests" => &mut self.pushed_requests,
            "device_codes" => &mut self.device_codes,
            "audit_events" => &mut self.audit_events,
            _ => return None,
        })
    }

    /// Adds another round's (or another node's) counts.
    pub fn add(&mut self, other: &Swept) {
        for (table, n) in other.by_table() {
            if let Some(c) = self.count_mut(table) {
                *c += n;
            }
        }
        self.batches += other.batches;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn by_table_names_every_counter_once() {
        let mut s = Swept::default();
        for (i, table) in SWEPT_TABLES.iter().enumerate() {
            *s.count_mut(table).unwrap() = i as u64 + 1;
        }
        let got = s.by_table();
        for (i, (table, n)) in got.iter().enumerate() {
            assert_eq!(*table, SWEPT_TABLES[i]);
            assert_eq!(*n, i as u64 + 1);
        }
        assert_eq!(s.total(), 78);
        assert!(s.count_mut("users").is_none());
    }

    #[test]
    fn cutoffs_keep_the_margin() {
        let settings = crate::Settings {
            issuer: "https://id.example".into(),
            leeway: 10,
            max_token_ttl: 3600,
            code_ttl: 60,
            id_token_ttl: 300,
            session_ttl: 3600,
            refresh_idle_ttl: 1000,
            refresh_grace: 2,
            code_retry_grace: 0,
            require_mfa: crate::mfa::RequireMfa::IfEnrolled,
            dpop: Default::default(),
            require_pushed_authorization_requests: false,
            ui_locales_supported: Vec::new(),
            device_code_ttl: 600,
            device_poll_interval: 5,
        };
        let c = SweepCutoffs::at(&settings, 10_000, Some(500));
        assert_eq!(c.now, 10_000);
        assert_eq!(c.spent_before, 10_000 - 3600 - 10);
        assert_eq!(c.audit_before, Some(9_500));
        assert_eq!(SweepCutoffs::at(&settings, 10_000, None).audit_before, None);
    }
}
