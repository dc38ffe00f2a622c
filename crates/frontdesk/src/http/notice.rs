//! Security notices by mail (`security_notices`): a sign-in from a browser
//! new to the account, a password changed on the account page, a second
//! factor added or removed. The message is queued (`mail::Job::Notice`);
//! the page never waits for it.
//!
//! "New" is told by a cookie the browser keeps for a year: up to
//! [`KNOWN_MAX`] keyed tags (HMAC under the pepper of the account's `sub`,
//! 16 bytes each), one per account it signed in to. Nothing is stored
//! server-side, so every node agrees; a browser that clears its cookies is
//! new again, which errs on the side of telling.

use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontdesk_core::model::User;

use super::pages::KNOWN_COOKIE;
use crate::app::AppState;
use crate::mail::{Job, Notice};

/// Accounts one browser remembers.
pub const KNOWN_MAX: usize = 8;
/// How long the browser keeps the cookie.
const KNOWN_SECS: i64 = 365 * 24 * 3600;

/// Queues `notice` for `user` when notices are on.
pub(super) fn send(app: &AppState, user: &User, notice: Notice) {
    if app.web.security_notices {
        app.mail.enqueue(Job::Notice {
            sub: user.sub.clone(),
            notice,
        });
    }
}

fn tag(app: &AppState, sub: &str) -> String {
    let mac = app
        .core
        .pepper
        .hash_secret(&format!("known-browser\u{0}{sub}"));
    URL_SAFE_NO_PAD.encode(&mac[..16])
}

/// After a sign-in of `user`: whether this browser signed in to the account
/// before, and the jar that remembers it from now on (most recent first).
/// With notices off, the jar unchanged.
pub(super) fn known_browser(app: &AppState, jar: CookieJar, user: &User) -> (bool, CookieJar) {
    if !app.web.security_notices {
        return (true, jar);
    }
    let pages = &app.web.pages;
    let mine = tag(app, &user.sub);
    let held: Vec<String> = jar
        .get(pages.cookie_name(KNOWN_COOKIE))
        .map(|c| {
            c.value()
                .split('.')
                .filter(|t| t.len() == 22)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let known = held.contains(&mine);
    let mut tags = vec![mine.clone()];
    tags.extend(held.into_iter().filter(|t| *t != mine).take(KNOWN_MAX - 1));
    let jar = jar.add(pages.cookie(KNOWN_COOKIE, tags.join("."), KNOWN_SECS));
    (known, jar)
}

/// Tells `user` about a sign-in from a browser new to the account.
pub(super) fn new_sign_in(app: &AppState, user: &User, user_agent: Option<&str>, address: &str) {
    send(
        app,
        user,
        Notice::NewSignIn {
            device: super::account::device_name(user_agent),
            address: address.to_owned(),
        },
    );
}
