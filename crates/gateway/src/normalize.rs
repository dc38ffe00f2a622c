//! The request path, normalised once before routing, so that the route the
//! gateway checks is the resource the upstream serves.
//!
//! RFC 3986 §6.2.2.2: percent-encoded unreserved characters (§2.3: ALPHA /
//! DIGIT / "-" / "." / "_" / "~") are the same as the characters
//! themselves, and §6.2.2.1: hex digits of the other escapes are uppercase.
//! RFC 9110 §4.2.3 applies the same equivalence to `http` URIs. Upstreams
//! differ in what else they decode (WSGI and Go decode everything, servlet
//! containers strip `;` parameters), so two forms come out of one pass:
//!
//! * `forward`: the RFC 3986 normal form (unreserved decoded, other escapes
//!   uppercase, bytes that may not appear raw in a path encoded), which is
//!   what the upstream receives;
//! * `route`: every escape decoded (and, when `;` parameters are allowed,
//!   each segment cut at its first `;`), which is what the route prefixes
//!   are matched against. Two spellings that any decoding upstream reads as
//!   the same bytes therefore always get the same route.
//!
//! What has no single reading is refused: dot segments (also `%2e`), empty
//! segments (`//`), encoded `/` and `\` (`%2f`, `%5c`), a raw `\`, `%00`,
//! malformed escapes, and `;` unless `allow_path_parameters` is on.

/// Why a path was refused (the text goes into the 400 answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAbsolute,
    EmptySegment,
    DotSegment,
    EncodedSeparator,
    Backslash,
    Nul,
    BadEscape,
    PathParameter,
}

impl Refusal {
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::NotAbsolute => "the path must start with /",
            Refusal::EmptySegment => "the path has an empty segment (//)",
            Refusal::DotSegment => "the path has a dot segment (. or ..)",
            Refusal::EncodedSeparator => "the path has an encoded / or \\",
            Refusal::Backslash => "the path has a \\",
            Refusal::Nul => "the path has an encoded NUL",
            Refusal::BadEscape => "the path has a malformed percent-encoding",
            Refusal::PathParameter => "the path has ; parameters",
        }
    }
}

/// A normalised path: what to forward, and what to route on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    pub forward: String,
    pub route: Vec<u8>,
}

/// RFC 3986 §2.3.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §3.3 `pchar` minus `pct-encoded`: unreserved, sub-delims, ":" and "@".
fn literal(b: u8) -> bool {
    unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn push_escaped(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

/// Normalises `path` (the request target's path, without the query).
pub fn normalize(path: &str, allow_path_parameters: bool) -> Result<NormalPath, Refusal> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Refusal::NotAbsolute);
    };
    let mut forward = String::with_capacity(path.len());
    let mut route = Vec::with_capacity(path.len());
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.into_iter().enumerate() {
        // A trailing `/` (empty last segment) is a resource of its own;
        // an empty segment anywhere else is `//`.
        if seg.is_empty() && i != last {
            return Err(Refusal::EmptySegment);
        }
        forward.push('/');
        route.push(b'/');
        let start = route.len();
        let bytes = seg.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            let b = bytes[j];
            if b == b'%' {
                let (Some(hi), Some(lo)) = (
                    bytes.get(j + 1).copied().and_then(hex),
                    bytes.get(j + 2).copied().and_then(hex),
                ) else {
                    return Err(Refusal::BadEscape);
                };
                let v = (hi << 4) | lo;
                match v {
                    0 => return Err(Refusal::Nul),
                    b'/' | b'\\' => return Err(Refusal::EncodedSeparator),
                    _ if unreserved(v) => forward.push(char::from(v)),
                    _ => push_escaped(&mut forward, v),
                }
                route.push(v);
                j += 3;
                continue;
            }
            if b == b'\\' {
                return Err(Refusal::Backslash);
            }
            if literal(b) {
                forward.push(char::from(b));
            } else {
                // Allowed raw by the HTTP parser but not by RFC 3986
                // (`"`, `{`, `|`, UTF-8 …): sent encoded.
                push_escaped(&mut forward, b);
            }
            route.push(b);
            j += 1;
        }
        let decoded = &route[start..];
        let name = match decoded.iter().position(|&b| b == b';') {
            Some(_) if !allow_path_parameters => return Err(Refusal::PathParameter),
            Some(at) => &decoded[..at],
            None => decoded,
        };
        if name == b"." || name == b".." {
            return Err(Refusal::DotSegment);
        }
        if name.len() != decoded.len() {
            // Route on the segment without its parameters (what a servlet
            // container serves); forward it with them.
            route.truncate(start + name.len());
        }
    }
    Ok(NormalPath { forward, route })
}

/// Whether `path` is under `prefix` on a segment boundary: `/photos`
/// matches `/photos` and `/photos/1`, not `/photosynthesis`. Both are
/// [`NormalPath::route`] forms.
pub fn prefix_matches(prefix: &[u8], path: &[u8]) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with(b"/") || rest.is_empty() || rest.starts_with(b"/"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fwd(p: &str) -> String {
        normalize(p, false).unwrap().forward
    }

    fn route(p: &str, params: bool) -> String {
        String::from_utf8(normalize(p, params).unwrap().route).unwrap()
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_uppercased() {
        assert_eq!(fwd("/%61dmin/users"), "/admin/users");
        assert_eq!(fwd("/ad%6Din/%7euser"), "/admin/~user");
        assert_eq!(fwd("/a%3fb"), "/a%3Fb");
        assert_eq!(fwd("/a%2Cb%25"), "/a%2Cb%25");
        assert_eq!(fwd("/"), "/");
        assert_eq!(fwd("/photos/"), "/photos/");
        assert_eq!(fwd("/a!b:c@d"), "/a!b:c@d");
        assert_eq!(fwd("/caf\u{e9}"), "/caf%C3%A9");
        assert_eq!(fwd("/a|b{c}\"d"), "/a%7Cb%7Bc%7D%22d");
        assert_eq!(fwd("/photos/..x"), "/photos/..x");
        // The route form decodes everything once.
        assert_eq!(route("/a%21b/%2561", false), "/a!b/%61");
        assert_eq!(route("/caf%C3%A9", false), route("/caf\u{e9}", false));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (bad, why) in [
            ("photos", Refusal::NotAbsolute),
            ("*", Refusal::NotAbsolute),
            ("//charges", Refusal::EmptySegment),
            ("/photos//x", Refusal::EmptySegment),
            ("/photos/../charges", Refusal::DotSegment),
            ("/photos/%2e%2e/charges", Refusal::DotSegment),
            ("/photos/%2E./charges", Refusal::DotSegment),
            ("/photos/./x", Refusal::DotSegment),
            ("/photos/..", Refusal::DotSegment),
            ("/photos%2fcharges", Refusal::EncodedSeparator),
            ("/photos%5Ccharges", Refusal::EncodedSeparator),
            ("/photos\\charges", Refusal::Backslash),
            ("/photos%00", Refusal::Nul),
            ("/photos%zz", Refusal::BadEscape),
            ("/photos%4", Refusal::BadEscape),
            ("/admin;x/users", Refusal::PathParameter),
            ("/admin%3bx/users", Refusal::PathParameter),
        ] {
            assert_eq!(normalize(bad, false), Err(why), "{bad}");
        }
    }

    #[test]
    fn path_parameters_when_allowed_are_cut_for_routing_only() {
        let n = normalize("/admin;x/users;jsessionid=1", true).unwrap();
        assert_eq!(n.forward, "/admin;x/users;jsessionid=1");
        assert_eq!(n.route, b"/admin/users");
        // The Tomcat classic: `..;` is still a dot segment.
        assert_eq!(
            normalize("/photos/..;/admin", true),
            Err(Refusal::DotSegment)
        );
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches(b"/photos", b"/photos"));
        assert!(prefix_matches(b"/photos", b"/photos/1"));
        assert!(!prefix_matches(b"/photos", b"/photosynthesis"));
        assert!(prefix_matches(b"/", b"/anything"));
        assert!(prefix_matches(b"/api/", b"/api/x"));
    }
}
