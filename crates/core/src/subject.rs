//! Subject identifier types, OpenID Connect Core §8: the `sub` a client's
//! tokens carry is the user's one identifier (`public`), or, for a client
//! registered with `subject_type = "pairwise"`, one made for its sector
//! (§8.1), so that clients of different sectors cannot correlate users.
//!
//! The pairwise value is HMAC-SHA-256 under the server's pepper of the
//! sector identifier and the user's own `sub`, base64url: stable for a
//! sector and a user (across nodes and restarts; the pepper is derived
//! from the deployment's key-encryption key), unlinkable without the pepper, and the same for every
//! client of one sector (§8.1: "the same value for all Clients" of a
//! sector). Every place a client sees a `sub` takes it from [`subject`]:
//! ID tokens, userinfo, access tokens and introspection.
//!
//! The sector identifier is the host of the `sector_identifier_uri`, or
//! without one the host of the redirect URIs, which must then be a single
//! host (§8.1: "If there are multiple hostnames in the registered
//! redirect_uris, the Client MUST register a sector_identifier_uri").
//! The document at `sector_identifier_uri` must list every redirect URI of
//! the client ([`check_sector_document`]; the binary fetches it when the
//! client is registered or changed).

use base64::Engine;
use url::Url;

use crate::client::{MetadataError, validate_link};
use crate::model::{Client, SubjectType};
use crate::secret::Pepper;

/// The host of a URI, when it has one.
fn host_of(uri: &str) -> Option<String> {
    Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// §8.1: the sector a pairwise client belongs to; `None` for a public
/// client (and for a pairwise one that [`validate`] would refuse).
pub fn sector_identifier(client: &Client) -> Option<String> {
    if client.subject_type != SubjectType::Pairwise {
        return None;
    }
    match &client.sector_identifier_uri {
        Some(uri) => host_of(uri),
        None => {
            let mut hosts = client.redirect_uris.iter().map(|u| host_of(u));
            let first = hosts.next()??;
            hosts
                .all(|h| h.as_deref() == Some(first.as_str()))
                .then_some(first)
        }
    }
}

/// The `sub` that `client` sees for the user whose own `sub` is `local`.
pub fn subject(pepper: &Pepper, client: &Client, local: &str) -> String {
    match sector_identifier(client) {
        None => local.to_owned(),
        Some(sector) => {
            let mac = pepper.hash_secret(&format!("pairwise-sub\0{sector}\0{local}"));
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
        }
    }
}

/// Registration rules (OIDC Registration §2, Core §8.1), part of
/// `client::validate_metadata`.
pub fn validate(client: &Client) -> Result<(), MetadataError> {
    if let Some(uri) = &client.sector_identifier_uri {
        validate_link("sector_identifier_uri", uri)?;
        if client.subject_type != SubjectType::Pairwise {
            return Err(MetadataError(
                "sector_identifier_uri is for subject_type = \"pairwise\" only".into(),
            ));
        }
    }
    if client.subject_type == SubjectType::Pairwise && sector_identifier(client).is_none() {
        return Err(MetadataError(
            "subject_type \"pairwise\": the redirect URIs have more than one host (or none), \
             so a sector_identifier_uri is needed (OpenID Connect Core §8.1)"
                .into(),
        ));
    }
    Ok(())
}

/// OIDC Registration §5: the document at `sector_identifier_uri` is a JSON
/// array of URIs that must include every redirect URI of the client.
pub fn check_sector_document(client: &Client, document: &[u8]) -> Result<(), MetadataError> {
    let listed: Vec<String> = serde_json::from_slice(document).map_err(|_| {
        MetadataError("sector_identifier_uri: the document is not a JSON array of URIs".into())
    })?;
    match client.redirect_uris.iter().find(|r| !listed.contains(r)) {
        Some(missing) => Err(MetadataError(format!(
            "sector_identifier_uri: the document does not list the redirect URI {missing:?} \
             (OpenID Connect Registration §5)"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::type_complexity)]
mod tests {
    use super::*;

    fn client(subject_type: SubjectType, uris: &[&str], sector: Option<&str>) -> Client {
        let mut c = crate::proptests::client(uris.iter().map(|u| (*u).to_owned()).collect());
        c.subject_type = subject_type;
        c.sector_identifier_uri = sector.map(str::to_owned);
        c
    }

    #[test]
    fn sectors_and_what_registration_refuses() {
        use SubjectType::{Pairwise, Public};
        // (type, redirect URIs, sector_identifier_uri, sector, refusal)
        let table: &[(
            SubjectType,
            &[&str],
            Option<&str>,
            Option<&str>,
            Option<&str>,
        )] = &[
            (Public, &["https://a.example/cb"], None, None, None),
            (
                Pairwise,
                &["https://A.example/cb", "https://a.example/x"],
                None,
                Some("a.example"),
                None,
            ),
            (
                Pairwise,
                &["https://a.example/cb", "https://b.example/cb"],
                None,
                None,
                Some("more than one host"),
            ),
            (
                Pairwise,
                &[],
                None,
                None,
                Some("more than one host (or none)"),
            ),
            (
                Pairwise,
                &["https://a.example/cb", "https://b.example/cb"],
                Some("https://sector.example/uris.json"),
                Some("sector.example"),
                None,
            ),
            (
                Pairwise,
                &["https://a.example/cb"],
                Some("http://sector.example/u"),
                None,
                Some("sector_identifier_uri"),
            ),
            (
                Public,
                &["https://a.example/cb"],
                Some("https://sector.example/u"),
                None,
                Some("pairwise\" only"),
            ),
        ];
        for (kind, uris, sector_uri, sector, refusal) in table {
            let c = client(*kind, uris, *sector_uri);
            match (validate(&c), refusal) {
                (Ok(()), None) => assert_eq!(sector_identifier(&c).as_deref(), *sector, "{uris:?}"),
                (Err(e), Some(why)) => assert!(e.0.contains(why), "{uris:?}: {e}"),
                (got, want) => panic!("{uris:?} {sector_uri:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn pairwise_subjects_differ_by_sector_and_not_by_client() {
        let pepper = Pepper::new(b"test pepper");
        let a1 = client(SubjectType::Pairwise, &["https://a.example/cb"], None);
        let a2 = client(SubjectType::Pairwise, &["https://a.example/other"], None);
        let b = client(SubjectType::Pairwise, &["https://b.example/cb"], None);
        let public = client(SubjectType::Public, &["https://a.example/cb"], None);
        assert_eq!(subject(&pepper, &public, "u-1"), "u-1");
        let s = subject(&pepper, &a1, "u-1");
        assert_eq!(s.len(), 43, "base64url of 32 bytes");
        assert_ne!(s, "u-1");
        assert_eq!(s, subject(&pepper, &a2, "u-1"), "one sector, one value");
        assert_ne!(s, subject(&pepper, &b, "u-1"));
        assert_ne!(s, subject(&pepper, &a1, "u-2"));
        assert_ne!(s, subject(&Pepper::new(b"another"), &a1, "u-1"));
    }

    #[test]
    fn the_sector_document_lists_every_redirect_uri() {
        let c = client(
            SubjectType::Pairwise,
            &["https://a.example/cb", "https://b.example/cb"],
            Some("https://sector.example/uris.json"),
        );
        let ok = br#"["https://a.example/cb","https://b.example/cb","https://c.example/cb"]"#;
        assert!(check_sector_document(&c, ok).is_ok());
        let e = check_sector_document(&c, br#"["https://a.example/cb"]"#).unwrap_err();
        assert_eq!(
            e.0,
            "sector_identifier_uri: the document does not list the redirect URI \"https://b.example/cb\" (OpenID Connect Registration §5)"
        );
        let e = check_sector_document(&c, br#"{"redirect_uris":[]}"#).unwrap_err();
        assert_eq!(
            e.0,
            "sector_identifier_uri: the document is not a JSON array of URIs"
        );
    }
}
