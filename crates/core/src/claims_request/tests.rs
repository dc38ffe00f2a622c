#![allow(clippy::unwrap_used)]
use super::*;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn what_each_request_asks_for() {
    // (claims parameter, userinfo, id_token, essential acr, voluntary acr, sub)
    type Row = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
        Option<&'static str>,
    );
    let table: &[Row] = &[
        ("{}", &[], &[], &[], &[], None),
        (
            r#"{"userinfo":{"name":{"essential":true},"email":null}}"#,
            &["email", "name"],
            &[],
            &[],
            &[],
            None,
        ),
        (
            r#"{"id_token":{"email":null,"email":{"essential":true}}}"#,
            &[],
            &["email"],
            &[],
            &[],
            None,
        ),
        // Unknown claims and other members are ignored (§5.5).
        (
            r#"{"userinfo":{"shoe_size":null},"id_token":{"x":null},"other":1}"#,
            &[],
            &[],
            &[],
            &[],
            None,
        ),
        (
            r#"{"id_token":{"acr":{"essential":true,"values":["b","a","b"]}}}"#,
            &[],
            &[],
            &["b", "a"],
            &[],
            None,
        ),
        (
            r#"{"id_token":{"acr":{"essential":true,"value":"a"}}}"#,
            &[],
            &[],
            &["a"],
            &[],
            None,
        ),
        // Not essential: voluntary, like acr_values.
        (
            r#"{"id_token":{"acr":{"values":["a"]}}}"#,
            &[],
            &[],
            &[],
            &["a"],
            None,
        ),
        // Essential without values asks for nothing in particular.
        (
            r#"{"id_token":{"acr":{"essential":true}}}"#,
            &[],
            &[],
            &[],
            &[],
            None,
        ),
        (
            r#"{"id_token":{"sub":{"value":"u-1"},"auth_time":{"essential":true}}}"#,
            &[],
            &[],
            &[],
            &[],
            Some("u-1"),
        ),
        // `acr` and `sub` at userinfo are not ID-token requirements.
        (
            r#"{"userinfo":{"acr":{"essential":true,"values":["a"]},"sub":{"value":"u-1"}}}"#,
            &[],
            &[],
            &[],
            &[],
            None,
        ),
    ];
    for (raw, userinfo, id_token, essential_acr, voluntary, sub) in table {
        let p = parse(raw).unwrap();
        assert_eq!(p.requested.userinfo, names(userinfo), "{raw}");
        assert_eq!(p.requested.id_token, names(id_token), "{raw}");
        assert_eq!(p.requested.essential_acr, names(essential_acr), "{raw}");
        assert_eq!(p.voluntary_acr, names(voluntary), "{raw}");
        assert_eq!(p.sub.as_deref(), *sub, "{raw}");
    }
}

#[test]
fn malformed_requests_are_refused_with_what_is_wrong() {
    let table = [
        (
            "not json",
            "claims must be a JSON object (OpenID Connect Core §5.5)",
        ),
        (
            "[1]",
            "claims must be a JSON object (OpenID Connect Core §5.5)",
        ),
        (
            r#"{"userinfo":["name"]}"#,
            "claims: userinfo must be a JSON object",
        ),
        (
            r#"{"id_token":{"name":true}}"#,
            "claims: id_token.name must be null or a JSON object",
        ),
        (
            r#"{"userinfo":{"name":{"essential":"yes"}}}"#,
            "claims: userinfo.name.essential must be true or false",
        ),
        (
            r#"{"id_token":{"acr":{"values":"a"}}}"#,
            "claims: id_token.acr.values must be an array",
        ),
    ];
    for (raw, why) in table {
        let e = parse(raw).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::InvalidRequest, "{raw}");
        assert_eq!(e.description, why, "{raw}");
    }
    let many: Vec<String> = (0..=MAX_CLAIMS_PER_MEMBER)
        .map(|i| format!("\"c{i}\":null"))
        .collect();
    let raw = format!("{{\"userinfo\":{{{}}}}}", many.join(","));
    assert_eq!(
        parse(&raw).unwrap_err().description,
        "claims: userinfo names more than 64 claims"
    );
}

#[test]
fn a_client_gets_only_claims_of_scopes_it_may_have() {
    let p = parse(r#"{"userinfo":{"name":null,"phone_number":null},"id_token":{"email":null}}"#)
        .unwrap()
        .for_client(&Scope::parse("openid profile email").unwrap());
    assert_eq!(p.requested.userinfo, names(&["name"]));
    assert_eq!(p.requested.id_token, names(&["email"]));
    // The consent page asks for the scopes those claims stand for, beyond
    // the scope itself.
    let asked = Scope::parse("openid email").unwrap();
    assert_eq!(p.consent_scopes(&asked), vec!["profile"]);
    let asked = Scope::parse("openid").unwrap();
    assert_eq!(p.consent_scopes(&asked), vec!["profile", "email"]);
}
