#![allow(clippy::unwrap_used)]
use super::*;

fn kek() -> Kek {
    Kek::new(&[7u8; 32]).unwrap()
}

const POLICY: RotationPolicy = RotationPolicy {
    jwks_max_age: 300,
    prepublish: 600,
    retain: 3600,
    period: None,
};

#[test]
fn scheduled_rotation_is_due_a_lead_before_the_period_ends() {
    let k = kek();
    let t0 = 1_000_000;
    let policy = RotationPolicy {
        period: Some(86_400),
        ..POLICY
    };
    let at = generate(&k, Algorithm::ES256, KeyUse::AccessToken, t0, t0).unwrap();
    let id = generate(&k, Algorithm::PS256, KeyUse::IdToken, t0 + 100, t0 + 100).unwrap();
    let stored = vec![at.clone(), id.clone()];
    let due_at = t0 + 86_400 - 600;
    // (now, uses due)
    let table: &[(i64, &[(KeyUse, &str)])] = &[
        (t0, &[]),
        (due_at - 1, &[]),
        (due_at, &[(KeyUse::AccessToken, "ES256")]),
        (
            due_at + 100,
            &[(KeyUse::AccessToken, "ES256"), (KeyUse::IdToken, "PS256")],
        ),
    ];
    for (now, want) in table {
        let got = rotations_due(&stored, &policy, *now);
        let want: Vec<(KeyUse, String)> = want.iter().map(|(u, a)| (*u, (*a).to_owned())).collect();
        assert_eq!(got, want, "at t0 + {}", now - t0);
    }
    // Off without a period.
    assert!(rotations_due(&stored, &POLICY, due_at + 100).is_empty());

    // Once the successor is stored (pending), nothing is due; once it
    // signs, the period counts from it.
    let next = generate(
        &k,
        Algorithm::ES256,
        KeyUse::AccessToken,
        due_at,
        due_at + 600,
    )
    .unwrap();
    let mut after = stored.clone();
    after[0].retired_at = Some(next.activates_at);
    after.push(next.clone());
    let after_at: Vec<StoredKey> = after
        .iter()
        .filter(|k| k.key_use == KeyUse::AccessToken)
        .cloned()
        .collect();
    assert!(rotations_due(&after_at, &policy, due_at).is_empty());
    assert!(rotations_due(&after_at, &policy, due_at + 600 + 86_400 - 601).is_empty());
    assert_eq!(
        rotations_due(&after_at, &policy, due_at + 600 + 86_400 - 600),
        vec![(KeyUse::AccessToken, "ES256".to_owned())]
    );

    // Under the lock: a candidate whose use another node rotated meanwhile
    // is dropped.
    let candidate = generate(
        &k,
        Algorithm::ES256,
        KeyUse::AccessToken,
        due_at,
        due_at + 600,
    )
    .unwrap();
    assert_eq!(
        rotation_needed(&stored, std::slice::from_ref(&candidate), &policy, due_at).len(),
        1
    );
    assert!(rotation_needed(&after, &[candidate], &policy, due_at).is_empty());
}

#[test]
fn seal_open_round_trip_and_binding() {
    let k = kek();
    let sealed = k.seal("kid-1", b"secret der").unwrap();
    assert_eq!(k.open("kid-1", &sealed).unwrap().as_slice(), b"secret der");
    assert!(
        k.open("kid-2", &sealed).is_err(),
        "ciphertext is bound to its kid"
    );
    assert!(
        Kek::new(&[8u8; 32])
            .unwrap()
            .open("kid-1", &sealed)
            .is_err()
    );
    assert!(k.open("kid-1", &sealed[..5]).is_err());
}

#[test]
fn rotation_prepublishes_then_switches_then_retires() {
    let k = kek();
    let t0 = 1_000_000;
    let mut first = generate(&k, Algorithm::ES256, KeyUse::AccessToken, t0, t0).unwrap();
    let t1 = t0 + 100;
    let second = generate(
        &k,
        Algorithm::ES256,
        KeyUse::AccessToken,
        t1,
        t1 + POLICY.prepublish,
    )
    .unwrap();
    // What put_signing_key does in the store:
    first.retired_at = Some(second.activates_at);
    let stored = vec![first.clone(), second.clone()];

    let ring = KeyRing::load(&stored, &k, POLICY, t1, None).unwrap();
    // Before activation: the old key signs, both are published.
    assert_eq!(
        ring.signer(KeyUse::AccessToken, t1).unwrap().kid(),
        first.kid
    );
    assert_eq!(ring.jwks(t1).keys.len(), 2);
    assert_eq!(POLICY.state(&second, t1), KeyState::Pending);

    // After activation: the new key signs, the old one is still published.
    let t2 = second.activates_at;
    assert_eq!(
        ring.signer(KeyUse::AccessToken, t2).unwrap().kid(),
        second.kid
    );
    assert_eq!(ring.jwks(t2).keys.len(), 2);
    assert_eq!(POLICY.state(&first, t2), KeyState::Retired);

    // After retention: the old key is gone from JWKS and from a fresh load.
    let t3 = t2 + POLICY.retain;
    assert_eq!(ring.jwks(t3).keys.len(), 1);
    assert_eq!(POLICY.state(&first, t3), KeyState::Expired);
    let reloaded = KeyRing::load(&stored, &k, POLICY, t3, Some(&ring)).unwrap();
    assert_eq!(reloaded.jwks(t3).keys.len(), 1);
    assert!(reloaded.signer(KeyUse::IdToken, t3).is_none());
    assert!(reloaded.needs_key(KeyUse::IdToken, t3));
    assert!(!reloaded.needs_key(KeyUse::AccessToken, t3));
}

/// First-start generation under the key lock: a candidate is added only
/// for a use that has no key active now or later, at most one per use.
#[test]
fn first_keys_needed_only_for_uses_without_a_signing_key() {
    let k = kek();
    let t = 2_000_000;
    let at =
        |kid_t: i64| generate(&k, Algorithm::ES256, KeyUse::AccessToken, kid_t, kid_t).unwrap();
    let id = generate(&k, Algorithm::ES256, KeyUse::IdToken, t, t).unwrap();
    let candidates = [at(t), id.clone(), at(t + 1)];
    let kids = |keys: Vec<StoredKey>| keys.into_iter().map(|k| k.kid).collect::<Vec<_>>();

    // Empty store: one per use, the first candidate of each.
    assert_eq!(
        kids(first_keys_needed(&[], &candidates, t)),
        vec![candidates[0].kid.clone(), id.kid.clone()]
    );
    // Another node's access-token key is there: only the ID-token key.
    let theirs = at(t - 5);
    assert_eq!(
        kids(first_keys_needed(
            std::slice::from_ref(&theirs),
            &candidates,
            t
        )),
        vec![id.kid.clone()]
    );
    // A key retired later than now still signs; one retired by now does not.
    let mut retiring = theirs.clone();
    retiring.retired_at = Some(t + 1);
    assert_eq!(
        first_keys_needed(&[retiring.clone(), id.clone()], &candidates, t),
        vec![]
    );
    retiring.retired_at = Some(t);
    assert_eq!(
        kids(first_keys_needed(&[retiring, id], &candidates, t)),
        vec![candidates[0].kid.clone()]
    );
}
