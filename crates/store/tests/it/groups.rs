//! Groups: one group per name, listed by name in keyset pages; a user joins
//! a group once, and only an existing user an existing group; members are
//! listed by username; deleting the group or the user deletes the
//! memberships, and a membership left behind (no foreign keys, see
//! migration 0010) is never seen and is dropped when the name is reused.

use frontdesk_core::model::{Group, GroupMember, GroupSync};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;
use frontdesk_store::testing::execute_raw;

use crate::support::{NOW, user};

contract!(
    group_create_read_conflict,
    groups_page_walks_all_by_name,
    group_membership_add_remove,
    group_members_page_by_username,
    delete_group_removes_memberships,
    delete_user_removes_memberships,
    leftover_membership_not_in_groups_of,
    leftover_membership_not_in_members_page,
    sync_replaces_only_the_sources_memberships,
    sync_creates_groups_only_when_asked,
    concurrent_syncs_of_one_source_never_union,
);

fn group(name: &str, at: i64) -> Group {
    Group {
        name: name.to_owned(),
        description: format!("The {name} group"),
        created_at: at,
    }
}

/// The membership rows of `sub`, counted on the database itself (an update
/// that changes nothing), past every join the reads make.
async fn membership_rows_of(db: &Db, sub: &str) -> u64 {
    execute_raw(
        db,
        "UPDATE group_members SET added_at = added_at WHERE sub = $1",
        sub,
    )
    .await
    .unwrap()
}

/// The membership rows of the group `name`, counted the same way.
async fn membership_rows_in(db: &Db, name: &str) -> u64 {
    execute_raw(
        db,
        "UPDATE group_members SET added_at = added_at WHERE group_name = $1",
        name,
    )
    .await
    .unwrap()
}

fn usernames(page: &[GroupMember]) -> Vec<&str> {
    page.iter().map(|m| m.username.as_str()).collect()
}

async fn group_create_read_conflict(db: &Db) {
    let staff = group("staff", NOW);
    db.create_group(&staff).await.unwrap();
    assert_eq!(db.group("staff").await.unwrap(), Some(staff.clone()));

    // The same name again, whatever else differs: a conflict, and the first
    // group stays as it was.
    let mut again = group("staff", NOW + 5);
    again.description = "Someone else's staff".to_owned();
    match db.create_group(&again).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.group("staff").await.unwrap(), Some(staff));

    for unknown in ["nobody", "Staff", "staf", ""] {
        assert_eq!(db.group(unknown).await.unwrap(), None, "{unknown:?}");
    }
}

async fn groups_page_walks_all_by_name(db: &Db) {
    for (i, name) in ["delta", "alpha", "echo", "charlie", "bravo"]
        .into_iter()
        .enumerate()
    {
        db.create_group(&group(name, NOW + i64::try_from(i).unwrap()))
            .await
            .unwrap();
    }

    let mut seen: Vec<Group> = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = db.groups_page(after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2, "limit: {page:?}");
        sizes.push(page.len());
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        seen.extend(page);
        assert!(sizes.len() <= 5, "the walk does not end: {sizes:?}");
    }
    let names: Vec<&str> = seen.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert_eq!(sizes, [2, 2, 1, 0]);
    // Whole rows, not only the names.
    assert_eq!(seen[0], group("alpha", NOW + 1));
    assert_eq!(seen[4], group("echo", NOW + 2));

    // The cursor need not be a group's name; the page starts strictly after.
    let cases: [(Option<&str>, u32, &[&str]); 4] = [
        (None, 3, &["alpha", "bravo", "charlie"]),
        (Some("bravo"), 2, &["charlie", "delta"]),
        (Some("c"), 10, &["charlie", "delta", "echo"]),
        (Some("echo"), 10, &[]),
    ];
    for (after, limit, want) in cases {
        let page = db.groups_page(after, limit).await.unwrap();
        let got: Vec<&str> = page.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(got, want, "after {after:?}, limit {limit}");
    }
}

async fn group_membership_add_remove(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    db.create_user(&user("sub-b", "bob", None)).await.unwrap();
    for name in ["staff", "zeta", "alpha"] {
        db.create_group(&group(name, NOW)).await.unwrap();
    }

    // (group, sub, expected result of add_group_member, alice's groups after)
    let steps: [(&str, &str, bool, &[&str]); 7] = [
        ("staff", "sub-a", true, &["staff"]),
        ("staff", "sub-a", false, &["staff"]), // already a member
        ("ghost", "sub-a", false, &["staff"]), // no such group
        ("staff", "sub-nobody", false, &["staff"]), // no such user
        ("zeta", "sub-a", true, &["staff", "zeta"]),
        ("alpha", "sub-a", true, &["alpha", "staff", "zeta"]),
        ("staff", "sub-b", true, &["alpha", "staff", "zeta"]),
    ];
    for (i, (name, sub, want, alice_after)) in steps.into_iter().enumerate() {
        let at = NOW + i64::try_from(i).unwrap();
        assert_eq!(
            db.add_group_member(name, sub, at).await.unwrap(),
            want,
            "step {i}: add {sub} to {name}"
        );
        assert_eq!(
            db.groups_of("sub-a").await.unwrap(),
            alice_after,
            "step {i}: alice's groups"
        );
    }
    assert_eq!(db.groups_of("sub-b").await.unwrap(), ["staff"]);
    assert!(db.groups_of("sub-nobody").await.unwrap().is_empty());
    assert_eq!(
        membership_rows_of(db, "sub-nobody").await,
        0,
        "no row for a user that does not exist"
    );
    assert_eq!(
        membership_rows_in(db, "ghost").await,
        0,
        "no row for a group that does not exist"
    );
    // A refused re-add keeps the first join time.
    let staff = db.group_members_page("staff", None, 10).await.unwrap();
    assert_eq!(
        staff,
        [
            GroupMember {
                sub: "sub-a".to_owned(),
                username: "alice".to_owned(),
                added_at: NOW,
            },
            GroupMember {
                sub: "sub-b".to_owned(),
                username: "bob".to_owned(),
                added_at: NOW + 6,
            },
        ]
    );

    // (group, sub, expected result of remove_group_member, alice's groups after)
    let removals: [(&str, &str, bool, &[&str]); 5] = [
        ("staff", "sub-a", true, &["alpha", "zeta"]),
        ("staff", "sub-a", false, &["alpha", "zeta"]),
        ("ghost", "sub-a", false, &["alpha", "zeta"]),
        ("alpha", "sub-nobody", false, &["alpha", "zeta"]),
        ("alpha", "sub-a", true, &["zeta"]),
    ];
    for (i, (name, sub, want, alice_after)) in removals.into_iter().enumerate() {
        assert_eq!(
            db.remove_group_member(name, sub).await.unwrap(),
            want,
            "removal {i}: {sub} from {name}"
        );
        assert_eq!(
            db.groups_of("sub-a").await.unwrap(),
            alice_after,
            "removal {i}: alice's groups"
        );
    }
    // Removing alice left bob in.
    assert_eq!(db.groups_of("sub-b").await.unwrap(), ["staff"]);
}

async fn group_members_page_by_username(db: &Db) {
    // Created in neither username order nor sub order.
    for (sub, name) in [("sub-1", "carol"), ("sub-3", "alice"), ("sub-2", "bob")] {
        db.create_user(&user(sub, name, None)).await.unwrap();
    }
    db.create_user(&user("sub-4", "dave", None)).await.unwrap();
    db.create_group(&group("staff", NOW)).await.unwrap();
    db.create_group(&group("other", NOW)).await.unwrap();
    for (i, sub) in ["sub-1", "sub-3", "sub-2"].into_iter().enumerate() {
        let at = NOW + i64::try_from(i).unwrap();
        assert!(db.add_group_member("staff", sub, at).await.unwrap());
    }
    // dave is in another group only.
    assert!(db.add_group_member("other", "sub-4", NOW).await.unwrap());

    let all = db.group_members_page("staff", None, 10).await.unwrap();
    assert_eq!(
        all,
        [
            GroupMember {
                sub: "sub-3".to_owned(),
                username: "alice".to_owned(),
                added_at: NOW + 1,
            },
            GroupMember {
                sub: "sub-2".to_owned(),
                username: "bob".to_owned(),
                added_at: NOW + 2,
            },
            GroupMember {
                sub: "sub-1".to_owned(),
                username: "carol".to_owned(),
                added_at: NOW,
            },
        ]
    );

    let cases: [(&str, Option<&str>, u32, &[&str]); 7] = [
        ("staff", None, 1, &["alice"]),
        ("staff", Some("alice"), 1, &["bob"]),
        ("staff", Some("alice"), 10, &["bob", "carol"]),
        ("staff", Some("b"), 10, &["bob", "carol"]),
        ("staff", Some("carol"), 10, &[]),
        ("other", None, 10, &["dave"]),
        ("ghost", None, 10, &[]),
    ];
    for (name, after, limit, want) in cases {
        let page = db.group_members_page(name, after, limit).await.unwrap();
        assert_eq!(
            usernames(&page),
            want,
            "{name}, after {after:?}, limit {limit}"
        );
    }
}

async fn delete_group_removes_memberships(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    db.create_group(&group("staff", NOW)).await.unwrap();
    db.create_group(&group("keep", NOW)).await.unwrap();
    assert!(db.add_group_member("staff", "sub-a", NOW).await.unwrap());
    assert!(db.add_group_member("keep", "sub-a", NOW).await.unwrap());
    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["keep", "staff"]);

    assert!(db.delete_group("staff").await.unwrap());
    assert!(!db.delete_group("staff").await.unwrap(), "already gone");
    assert!(!db.delete_group("ghost").await.unwrap());
    assert_eq!(db.group("staff").await.unwrap(), None);
    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["keep"]);
    assert_eq!(
        membership_rows_in(db, "staff").await,
        0,
        "delete_group deletes the memberships themselves"
    );
    assert_eq!(membership_rows_in(db, "keep").await, 1, "other groups keep");

    // A new group of the same name starts empty.
    db.create_group(&group("staff", NOW + 10)).await.unwrap();
    assert!(
        db.group_members_page("staff", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["keep"]);
    // And alice can join it afresh.
    assert!(
        db.add_group_member("staff", "sub-a", NOW + 11)
            .await
            .unwrap()
    );
    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["keep", "staff"]);
}

async fn delete_user_removes_memberships(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    db.create_user(&user("sub-b", "bob", None)).await.unwrap();
    db.create_group(&group("staff", NOW)).await.unwrap();
    db.create_group(&group("ops", NOW)).await.unwrap();
    for (name, sub) in [("staff", "sub-a"), ("ops", "sub-a"), ("staff", "sub-b")] {
        assert!(db.add_group_member(name, sub, NOW).await.unwrap());
    }

    assert!(db.delete_user("sub-a").await.unwrap());
    let staff = db.group_members_page("staff", None, 10).await.unwrap();
    assert_eq!(usernames(&staff), ["bob"]);
    assert!(
        db.group_members_page("ops", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.groups_of("sub-a").await.unwrap().is_empty());
    assert_eq!(
        membership_rows_of(db, "sub-a").await,
        0,
        "delete_user deletes the memberships themselves"
    );
    assert_eq!(membership_rows_of(db, "sub-b").await, 1, "bob keeps his");

    // The user row is gone, so the same sub cannot join again.
    assert!(
        !db.add_group_member("staff", "sub-a", NOW + 1)
            .await
            .unwrap()
    );
    assert_eq!(membership_rows_of(db, "sub-a").await, 0);
    // The groups themselves stay.
    assert!(db.group("staff").await.unwrap().is_some());
    assert!(db.group("ops").await.unwrap().is_some());
}

/// A membership of a group that does not exist (as a race with
/// delete_group could leave): groups_of does not show it, and a new group
/// of that name drops it.
async fn leftover_membership_not_in_groups_of(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    db.create_group(&group("staff", NOW)).await.unwrap();
    assert!(db.add_group_member("staff", "sub-a", NOW).await.unwrap());
    let planted = execute_raw(
        db,
        "INSERT INTO group_members (group_name, sub, source, added_at) VALUES ('ghost', $1, '', 1)",
        "sub-a",
    )
    .await
    .unwrap();
    assert_eq!(planted, 1);
    assert_eq!(membership_rows_of(db, "sub-a").await, 2);

    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["staff"]);

    // Creating "ghost" drops the leftover: alice is not a member.
    db.create_group(&group("ghost", NOW + 1)).await.unwrap();
    assert_eq!(membership_rows_in(db, "ghost").await, 0);
    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["staff"]);
    assert!(
        db.group_members_page("ghost", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.add_group_member("ghost", "sub-a", NOW + 2)
            .await
            .unwrap()
    );
}

/// The same leftover is not listed as a member of the group that does not
/// exist (migration 0010: reads join the group).
async fn leftover_membership_not_in_members_page(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    let planted = execute_raw(
        db,
        "INSERT INTO group_members (group_name, sub, source, added_at) VALUES ('ghost', $1, '', 1)",
        "sub-a",
    )
    .await
    .unwrap();
    assert_eq!(planted, 1);
    assert_eq!(db.group("ghost").await.unwrap(), None);
    let page = db.group_members_page("ghost", None, 10).await.unwrap();
    assert!(page.is_empty(), "a leftover listed: {page:?}");
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

/// A source's sign-ins replace that source's memberships and nothing
/// else: local ones and another source's stay, a group both hold is
/// listed once, and removing a member ends every row of it.
async fn sync_replaces_only_the_sources_memberships(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    for name in ["staff", "ops", "dev"] {
        db.create_group(&group(name, NOW)).await.unwrap();
    }
    assert!(db.add_group_member("staff", "sub-a", NOW).await.unwrap());

    // (source, asserted, added, removed, alice's groups after)
    type Step<'a> = (
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
        &'a [&'a str],
        &'a [&'a str],
    );
    let steps: [Step; 5] = [
        (
            "corp",
            &["ops", "staff"],
            &["ops", "staff"],
            &[],
            &["ops", "staff"],
        ),
        ("corp", &["ops", "staff"], &[], &[], &["ops", "staff"]),
        ("hotel", &["dev"], &["dev"], &[], &["dev", "ops", "staff"]),
        // corp drops both: staff stays (local), ops goes, dev is hotel's.
        ("corp", &[], &[], &["ops", "staff"], &["dev", "staff"]),
        ("hotel", &["nosuch", "dev"], &[], &[], &["dev", "staff"]),
    ];
    for (i, (source, asserted, added, removed, after)) in steps.into_iter().enumerate() {
        let at = NOW + 1 + i64::try_from(i).unwrap();
        let change = db
            .sync_group_members("sub-a", source, &names(asserted), false, at)
            .await
            .unwrap();
        assert_eq!(
            change,
            GroupSync {
                added: names(added),
                removed: names(removed),
            },
            "step {i}: {source} asserts {asserted:?}"
        );
        assert_eq!(db.groups_of("sub-a").await.unwrap(), after, "step {i}");
    }
    assert!(db.group("nosuch").await.unwrap().is_none(), "not created");

    // Two sources in one group: one member in the list, the earliest date.
    db.sync_group_members("sub-a", "corp", &names(&["dev"]), false, NOW + 10)
        .await
        .unwrap();
    let page = db.group_members_page("dev", None, 10).await.unwrap();
    assert_eq!(usernames(&page), ["alice"]);
    assert_eq!(page[0].added_at, NOW + 3);
    // Removing her ends both rows; hotel's next sign-in brings its one back.
    assert!(db.remove_group_member("dev", "sub-a").await.unwrap());
    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["staff"]);
    let change = db
        .sync_group_members("sub-a", "hotel", &names(&["dev"]), false, NOW + 11)
        .await
        .unwrap();
    assert_eq!(change.added, ["dev"]);
    // An unknown user joins nothing; an empty source is refused.
    let change = db
        .sync_group_members("sub-nobody", "corp", &names(&["dev"]), true, NOW)
        .await
        .unwrap();
    assert_eq!(change, GroupSync::default());
    assert!(matches!(
        db.sync_group_members("sub-a", "", &names(&["dev"]), false, NOW)
            .await,
        Err(StoreError::Internal(_))
    ));
    // Deleting the user removes the synchronised memberships too.
    db.delete_user("sub-a").await.unwrap();
    assert_eq!(membership_rows_of(db, "sub-a").await, 0);
}

/// With `create`, a missing group is made (described as the source's) and
/// starts empty even where a deleted group of that name left rows.
async fn sync_creates_groups_only_when_asked(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    db.create_user(&user("sub-b", "bob", None)).await.unwrap();
    let planted = execute_raw(
        db,
        "INSERT INTO group_members (group_name, sub, source, added_at) VALUES ('corp:staff', $1, 'corp', 1)",
        "sub-b",
    )
    .await
    .unwrap();
    assert_eq!(planted, 1);
    let change = db
        .sync_group_members("sub-a", "corp", &names(&["corp:staff"]), true, NOW)
        .await
        .unwrap();
    assert_eq!(change.added, ["corp:staff"]);
    let g = db.group("corp:staff").await.unwrap().expect("created");
    assert_eq!(g.description, "from corp");
    assert_eq!(g.created_at, NOW);
    let page = db.group_members_page("corp:staff", None, 10).await.unwrap();
    assert_eq!(
        usernames(&page),
        ["alice"],
        "bob's leftover row was dropped"
    );
    assert!(db.groups_of("sub-b").await.unwrap().is_empty());
}

/// Two sign-ins of one user through one source at the same time, each
/// asserting other groups: the memberships end as one of the two lists,
/// never both (on PostgreSQL the syncs are serialised per user and
/// source; SQLite has one writer).
async fn concurrent_syncs_of_one_source_never_union(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    let lists: [&[&str]; 2] = [&["corp:a", "corp:b"], &["corp:c"]];
    for round in 0..20 {
        let tasks: Vec<_> = lists
            .iter()
            .map(|list| {
                let db = db.clone();
                let names: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
                tokio::spawn(async move {
                    db.sync_group_members("sub-a", "corp", &names, true, NOW)
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut got = db.groups_of("sub-a").await.unwrap();
        got.sort();
        assert!(
            lists.iter().any(|l| got == *l),
            "round {round}: {got:?} is neither list"
        );
    }
}
