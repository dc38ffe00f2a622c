//! Keyset pagination for every administrative list: `limit` (1 to
//! [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and an opaque `cursor`, the
//! base64url of the last row's sort key. A page never skips or repeats a
//! row because others were inserted meanwhile: the next page starts
//! strictly after the key, wherever new rows landed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::OAuthError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// Longest cursor accepted (a key is a few ids long).
const MAX_CURSOR_LEN: usize = 512;

/// One page asked for: at most `limit` rows after the key `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// The decoded cursor: the sort key of the last row already seen.
    pub after: Option<String>,
}

impl Default for PageRequest {
    fn default() -> PageRequest {
        PageRequest {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl PageRequest {
    /// From the `limit` and `cursor` parameters of a request.
    ///
    /// # Errors
    /// `invalid_request` naming the parameter.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, OAuthError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    OAuthError::invalid_request(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}"
                    ))
                })?,
        };
        let after = match cursor {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                OAuthError::invalid_request("cursor is not a cursor this server gave out")
            })?),
        };
        Ok(PageRequest { limit, after })
    }

    /// Rows to ask the store for: one more than the page, to learn whether
    /// another page follows.
    pub fn fetch(&self) -> u32 {
        self.limit.saturating_add(1)
    }
}

/// One page of rows and the cursor of the next, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` as fetched with [`PageRequest::fetch`]: the first `limit`,
    /// and a cursor after the last of them when more were found.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, key: impl Fn(&T) -> String) -> Page<T> {
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// One page of rows that are already in memory, in key order (for
    /// per-user lists that are read whole, like sessions and consents).
    pub fn of_sorted(rows: Vec<T>, req: &PageRequest, key: impl Fn(&T) -> String) -> Page<T> {
        let rest: Vec<T> = match &req.after {
            None => rows,
            Some(after) => rows.into_iter().filter(|r| key(r) > *after).collect(),
        };
        Page::from_rows(rest, req, key)
    }
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Option<String> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limits_and_cursors() {
        let d = PageRequest::parse(None, None).unwrap();
        assert_eq!((d.limit, d.after), (DEFAULT_LIMIT, None));
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().limit, 200);
        for bad in ["0", "201", "-1", "ten", ""] {
            let e = PageRequest::parse(Some(bad), None).unwrap_err();
            assert_eq!(
                e.description, "limit must be a whole number from 1 to 200",
                "{bad:?}"
            );
        }
        let c = encode_cursor("bob");
        assert_eq!(
            PageRequest::parse(None, Some(&c)).unwrap().after.as_deref(),
            Some("bob")
        );
        for bad in ["", "***", "/w", &"A".repeat(600)] {
            assert!(PageRequest::parse(None, Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pages_in_memory() {
        let rows: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let mut req = PageRequest {
            limit: 2,
            after: None,
        };
        let mut seen = Vec::new();
        loop {
            let p = Page::of_sorted(rows.clone(), &req, Clone::clone);
            seen.extend(p.items);
            match p.next_cursor {
                Some(c) => req.after = decode_cursor(&c),
                None => break,
            }
        }
        assert_eq!(seen, rows);
    }
}
