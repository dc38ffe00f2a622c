//! Request parameters as the wire carries them: `application/x-www-form-urlencoded`
//! bodies (RFC 6749 §3.2, Appendix B) and HTTP Basic client credentials
//! (RFC 6749 §2.3.1).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::OAuthError;

/// Most parameters a form may carry (SECURITY.md §5.7 input caps).
pub const MAX_PARAMS: usize = 100;

/// Parameters that may repeat: RFC 8707 §2 `resource`, and RFC 8693 §2.1
/// `audience`.
const REPEATABLE: &[&str] = &["resource", "audience"];

/// A parsed form. "Request and response parameters MUST NOT be included more
/// than once" (RFC 6749 §3.1, §3.2), and "parameters sent without a value
/// MUST be treated as if they were omitted from the request".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a form body (or a query string) as the WHATWG URL standard
    /// (§5.1) does, but strictly: the percent-decoded bytes of every name and
    /// value must be UTF-8. Duplicates of a non-repeatable parameter, invalid
    /// UTF-8 and more than [`MAX_PARAMS`] pairs (empty values included) give
    /// `invalid_request`.
    pub fn parse(body: &[u8]) -> Result<Params, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let sequences = body.split(|b| *b == b'&').filter(|s| !s.is_empty());
        for (i, seq) in sequences.enumerate() {
            if i >= MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            let (k, v) = match seq.iter().position(|b| *b == b'=') {
                Some(eq) => (&seq[..eq], &seq[eq + 1..]),
                None => (seq, &[][..]),
            };
            let (Some(k), Some(v)) = (form_decode_lenient(k), form_decode_lenient(v)) else {
                return Err(OAuthError::invalid_request("parameters must be UTF-8"));
            };
            if v.is_empty() {
                continue;
            }
            if !REPEATABLE.contains(&k.as_str()) && pairs.iter().any(|(n, _)| *n == k) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    printable(&k)
                )));
            }
            pairs.push((k, v));
        }
        Ok(Params(pairs))
    }

    /// The value of a single-valued parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The names present, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// A parameter the request cannot do without.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter: {name}")))
    }
}

/// A parameter name made safe for an `error_description` (RFC 6749 §5.2
/// allows %x20-21 / %x23-5B / %x5D-7E only).
fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| match c {
            '\x20'..='\x7e' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

/// Client credentials from an `Authorization: Basic` header, RFC 6749
/// §2.3.1: "The client identifier is encoded using the
/// application/x-www-form-urlencoded encoding algorithm … and the encoded
/// value is used as the username; the client password is encoded using the
/// same algorithm and used as the password."
pub fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client();
    let (scheme, rest) = header.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id).ok_or_else(bad)?;
    let secret = form_decode(secret).ok_or_else(bad)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a
/// space and `%XX` a byte; the result must be UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let plus_as_space = s.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(plus_as_space.as_bytes())?;
    String::from_utf8(bytes).ok()
}

/// One name or value of a form body (WHATWG URL §5.1): `+` is a space, `%XX`
/// a byte, and a `%` not followed by two hex digits stays as it is; `None`
/// when the bytes are not UTF-8. Checking the bytes themselves (not a lossy
/// decoding) keeps a genuine U+FFFD, which is valid UTF-8.
fn form_decode_lenient(input: &[u8]) -> Option<String> {
    let spaced: Vec<u8> = input
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8(percent_encoding::percent_decode(&spaced).collect()).ok()
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
