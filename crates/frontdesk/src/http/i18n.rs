//! Languages of the pages: Fluent catalogues (`locales/LANG/pages.ftl`,
//! embedded at build time) through `fluent-bundle`, and the language of a
//! request — the authorization request's `ui_locales` (OIDC Core §3.1.2.1),
//! then `Accept-Language` (negotiated by `fluent-langneg`), then the
//! server's default (`default_locale`). Templates ask with `t("key")`
//! (Fluent arguments as keyword arguments: `t("login-continue", client=…)`).
//!
//! The request's language lives in the request context
//! (`crate::audit::REQUEST`), so every page rendered for the request is
//! in it without each handler passing it along.

use std::sync::{Arc, Mutex};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// The shipped languages and their catalogues, the default first.
const CATALOGUES: [(&str, &str); 4] = [
    ("en", include_str!("../../locales/en/pages.ftl")),
    ("de", include_str!("../../locales/de/pages.ftl")),
    ("fr", include_str!("../../locales/fr/pages.ftl")),
    ("es", include_str!("../../locales/es/pages.ftl")),
];

/// The shipped language tags (`ui_locales_supported`).
pub fn supported() -> Vec<&'static str> {
    CATALOGUES.iter().map(|(l, _)| *l).collect()
}

/// What a request asked for: `ui_locales` once the handler has read the
/// authorization request, and the `Accept-Language` header.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    pub accept_language: Option<String>,
    pub ui_locales: Arc<Mutex<Option<String>>>,
    /// The language chosen for this request, once a page asked
    /// ([`Catalogue::current`]); [`prefer`] forgets it.
    pub chosen: Arc<Mutex<Option<usize>>>,
}

/// The most `Accept-Language` entries negotiated (a header may hold many).
const MAX_ACCEPTED: usize = 16;

/// Records the authorization request's `ui_locales` for the pages of this
/// request (no-op outside one).
pub fn prefer(ui_locales: Option<&str>) {
    let Some(u) = ui_locales.filter(|u| !u.trim().is_empty()) else {
        return;
    };
    let _ = crate::audit::REQUEST.try_with(|c| {
        if let Ok(mut slot) = c.asked.ui_locales.lock() {
            *slot = Some(u.to_owned());
        }
        if let Ok(mut chosen) = c.asked.chosen.lock() {
            *chosen = None;
        }
    });
}

/// The catalogues, loaded once.
pub struct Catalogue {
    bundles: Vec<(LanguageIdentifier, FluentBundle<FluentResource>)>,
    default: usize,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("languages", &supported())
            .finish_non_exhaustive()
    }
}

impl Catalogue {
    /// Parses the shipped catalogues; `default` must be one of them.
    pub fn load(default: &str) -> Result<Catalogue, String> {
        let mut bundles = Vec::new();
        for (tag, source) in CATALOGUES {
            let lang: LanguageIdentifier = tag.parse().map_err(|e| format!("{tag}: {e}"))?;
            let resource = FluentResource::try_new(source.to_owned())
                .map_err(|(_, errs)| format!("locales/{tag}/pages.ftl: {errs:?}"))?;
            let mut bundle = FluentBundle::new_concurrent(vec![lang.clone()]);
            // No Unicode isolation marks around arguments: the pages are
            // HTML with their own `dir`, and the marks would land in forms.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errs| format!("locales/{tag}/pages.ftl: {errs:?}"))?;
            bundles.push((lang, bundle));
        }
        let default = CATALOGUES
            .iter()
            .position(|(t, _)| *t == default)
            .ok_or_else(|| {
                format!(
                    "default_locale {default:?} is not one of {}",
                    supported().join(", ")
                )
            })?;
        Ok(Catalogue { bundles, default })
    }

    /// The index of the language for what was asked: the first of
    /// `ui_locales` (space-separated BCP 47 tags) we ship, else the best
    /// match of `Accept-Language`, else the default.
    pub fn choose(&self, asked: &Asked) -> usize {
        let available: Vec<&LanguageIdentifier> = self.bundles.iter().map(|(l, _)| l).collect();
        let pick = |requested: Vec<LanguageIdentifier>| {
            let found = fluent_langneg::negotiate_languages(
                &requested,
                &available,
                None,
                fluent_langneg::NegotiationStrategy::Lookup,
            );
            found
                .first()
                .and_then(|l| self.bundles.iter().position(|(b, _)| &b == *l))
        };
        let ui = asked.ui_locales.lock().ok().and_then(|u| u.clone());
        if let Some(u) = ui {
            let requested: Vec<LanguageIdentifier> =
                u.split(' ').filter_map(|t| t.parse().ok()).collect();
            if let Some(i) = pick(requested) {
                return i;
            }
        }
        if let Some(h) = &asked.accept_language
            && let Some(i) = pick(by_quality(h))
        {
            return i;
        }
        self.default
    }
}

/// The languages of an `Accept-Language` value (RFC 9110 §12.5.4), most
/// wanted first: by `q` (default 1), equal weights in the order written;
/// `q=0` ("not acceptable"), `*`, tags that do not parse and malformed
/// weights left out; at most [`MAX_ACCEPTED`] entries read.
fn by_quality(header: &str) -> Vec<LanguageIdentifier> {
    let mut weighted: Vec<(u16, LanguageIdentifier)> = header
        .split(',')
        .take(MAX_ACCEPTED)
        .filter_map(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let tag = parts.next().filter(|t| !t.is_empty() && *t != "*")?;
            let mut q = 1000u16;
            for p in parts {
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = quality(v)?;
                }
            }
            (q > 0).then_some(())?;
            Some((q, tag.parse().ok()?))
        })
        .collect();
    // Stable: equal weights keep the order they were written in.
    weighted.sort_by_key(|w| std::cmp::Reverse(w.0));
    weighted.into_iter().map(|(_, l)| l).collect()
}

/// A `qvalue` (RFC 9110 §12.4.2: `0`, `0.` and up to three digits, or
/// `1`, `1.` and up to three zeros) in thousandths; `None` if malformed.
fn quality(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl Catalogue {
    /// The language of the current request (the default outside one).
    /// Negotiated once per request: every `t()` of its pages reuses it.
    pub fn current(&self) -> usize {
        crate::audit::REQUEST
            .try_with(|c| {
                let Ok(mut chosen) = c.asked.chosen.lock() else {
                    return self.choose(&c.asked);
                };
                *chosen.get_or_insert_with(|| self.choose(&c.asked))
            })
            .unwrap_or(self.default)
    }

    /// The tag of language `i` (`<html lang>`).
    pub fn tag(&self, i: usize) -> String {
        self.bundles
            .get(i)
            .map_or_else(|| "en".to_owned(), |(l, _)| l.to_string())
    }

    /// Message `key` in language `i` with `args`; the default language's
    /// when `i` lacks it, the key itself when no catalogue has it.
    pub fn message(&self, i: usize, key: &str, args: &[(String, String)]) -> String {
        let mut fargs = FluentArgs::new();
        for (k, v) in args {
            fargs.set(k.clone(), FluentValue::from(v.clone()));
        }
        for b in [i, self.default] {
            let Some((_, bundle)) = self.bundles.get(b) else {
                continue;
            };
            if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let text = bundle.format_pattern(pattern, Some(&fargs), &mut errors);
                if errors.is_empty() {
                    return text.into_owned();
                }
                tracing::warn!(key, ?errors, "a message did not format");
            }
        }
        key.to_owned()
    }

    /// The message ids of language `i` (for the catalogue test).
    #[cfg(test)]
    pub fn keys(&self, i: usize) -> Vec<String> {
        let Some((_, bundle)) = self.bundles.get(i) else {
            return Vec::new();
        };
        let source = CATALOGUES.get(i).map_or("", |(_, s)| s);
        // Every message line starts at column 0 with `id =`.
        source
            .lines()
            .filter_map(|l| l.split_once(" ="))
            .map(|(id, _)| id.trim())
            .filter(|id| {
                !id.is_empty()
                    && !id.starts_with('#')
                    && !id.starts_with(' ')
                    && bundle.has_message(id)
            })
            .map(str::to_owned)
            .collect()
    }
}

/// Adds `t(key, **args)` and `lang()` (the request's language tag) to a
/// template environment. A message is HTML this project wrote (it may
/// hold `<strong>`); its arguments are HTML-escaped into it, so `t()`'s
/// result is safe to insert as it is.
pub fn install(env: &mut minijinja::Environment<'static>, catalogue: Arc<Catalogue>) {
    let c = catalogue.clone();
    env.add_function(
        "t",
        move |key: &str,
              kwargs: minijinja::value::Kwargs|
              -> Result<minijinja::Value, minijinja::Error> {
            let mut args = Vec::new();
            for name in kwargs.args() {
                let v: minijinja::Value = kwargs.get(name)?;
                let text = v.to_string();
                args.push((name.to_owned(), minijinja::HtmlEscape(&text).to_string()));
            }
            kwargs.assert_all_used()?;
            Ok(minijinja::Value::from_safe_string(c.message(
                c.current(),
                key,
                &args,
            )))
        },
    );
    env.add_function("lang", move || catalogue.tag(catalogue.current()));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn asked(ui: Option<&str>, accept: Option<&str>) -> Asked {
        Asked {
            accept_language: accept.map(str::to_owned),
            ui_locales: Arc::new(Mutex::new(ui.map(str::to_owned))),
            chosen: Arc::default(),
        }
    }

    #[test]
    fn the_language_of_a_request() {
        let c = Catalogue::load("en").unwrap();
        for (ui, accept, want) in [
            (None, None, "en"),
            (Some("de"), None, "de"),
            (Some("de-CH fr"), Some("es"), "de"),
            (Some("xx fr-CA"), None, "fr"),
            (Some("xx"), Some("es-MX,es;q=0.9"), "es"),
            (None, Some("fr-FR,fr;q=0.9,en;q=0.8"), "fr"),
            (None, Some("ja"), "en"),
            (None, Some("*"), "en"),
            // RFC 9110 §12.5.4: by weight, not by position.
            (None, Some("de;q=0.1, fr;q=0.9"), "fr"),
            (None, Some("fr;q=0.5, de"), "de"),
            // q=0 is "not acceptable"; a malformed weight drops its entry.
            (None, Some("fr;q=0, es;q=0.2"), "es"),
            (None, Some("fr;q=2, de;q=0.5"), "de"),
            (None, Some("de;q=0.500, fr;q=0.5"), "de"),
        ] {
            assert_eq!(
                c.tag(c.choose(&asked(ui, accept))),
                want,
                "{ui:?} {accept:?}"
            );
        }
        let de = Catalogue::load("de").unwrap();
        assert_eq!(de.tag(de.choose(&asked(None, Some("ja")))), "de");
        assert!(Catalogue::load("xx").is_err());
    }

    /// Every shipped catalogue has exactly the messages of the default one.
    #[test]
    fn the_catalogues_have_the_same_messages() {
        let c = Catalogue::load("en").unwrap();
        let mut en = c.keys(0);
        en.sort();
        assert!(en.len() > 10, "{en:?}");
        for i in 1..CATALOGUES.len() {
            let mut other = c.keys(i);
            other.sort();
            assert_eq!(other, en, "locales/{}/pages.ftl", c.tag(i));
        }
        assert_eq!(
            c.message(1, "login-continue", &[("client".into(), "APP1".into())]),
            "um mit <strong>APP1</strong> fortzufahren"
        );
    }
}
