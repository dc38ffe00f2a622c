//! LDAP directories at the login page: a private OpenLDAP `slapd` per test
//! (Debian's, from `/usr/sbin/slapd`; `.ci/run` installs it; without it the
//! tests skip unless `FRONTDESK_TEST_LDAP=required` or `CI=true`), configured by
//! a generated `slapd.d` in a temp dir (`slapadd -n0`), an `mdb` database
//! there, the `memberof` overlay, listening on `ldap://127.0.0.1:PORT`
//! (and `ldaps://` with a test CA's certificate where TLS is tested), and
//! seeded with `ldapadd`. slapd logs every operation (`-d stats`), so a
//! test can tell which binds and searches reached it.
//!
//! The server under test runs on SQLite and PostgreSQL: provisioning then
//! the same `sub`, a renamed entry, wrong and empty passwords, filter
//! injection, the throttle in front of the directory, an outage and a
//! silent directory, `provision = false`, local passwords never sent to
//! the directory, a group search over LDAPS, and StartTLS with an
//! untrusted certificate.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both;
use crate::browser::{
    APP1, APP1_CB, Browser, End, Page, SIGNIN_CONFIG, authorize_url, page, pkce, query,
};
use crate::support::{
    Database, Server, free_port, jwt_parts, test_certificates, wait_blocking, wait_until,
};

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const LDAPADD: &str = "/usr/bin/ldapadd";
const SLAPPASSWD: &str = "/usr/sbin/slappasswd";

const SUFFIX: &str = "dc=example,dc=com";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PW: &str = "slapd-root-secret-0123";
const READER_DN: &str = "cn=reader,dc=example,dc=com";
const READER_PW: &str = "reader-secret-0123";
const PEOPLE: &str = "ou=people,dc=example,dc=com";

const DORA: (&str, &str) = ("dora", "dora-directory-password-1");
const EVE: (&str, &str) = ("eve", "eve-directory-password-1");
/// The directory's bob; SIGNIN_CONFIG has a local bob with another password.
const BOB_IN_DIRECTORY: &str = "bob-directory-password-1";
const BOB_LOCAL: (&str, &str) = ("bob", "bob-password-123456");

const INCORRECT: &str = "Incorrect username or password.";
const UNAVAILABLE: &str = "The directory is unavailable";

// ----- a private slapd -----

/// One `slapd` of this test: its directory (config, database, log) and
/// process. Killed when dropped.
struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    /// With TLS: the `ldaps://` port and the test CA's certificate.
    tls: Option<(u16, PathBuf)>,
    child: Option<Child>,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("slapd log:\n{}", self.log());
        }
        self.stop();
    }
}

/// Whether OpenLDAP is installed. Without it the tests say they skipped,
/// unless `FRONTDESK_TEST_LDAP=required` or `CI=true` (as in CI, whose
/// `.ci/run` installs it), when they fail.
fn slapd_available() -> bool {
    let missing: Vec<&str> = [SLAPD, SLAPADD, LDAPADD, SLAPPASSWD]
        .into_iter()
        .filter(|b| !Path::new(b).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let required = std::env::var("FRONTDESK_TEST_LDAP").as_deref() == Ok("required")
        || std::env::var("CI").as_deref() == Ok("true");
    assert!(
        !required,
        "{missing:?} missing but required here (CI=true or FRONTDESK_TEST_LDAP=required): apt-get install slapd ldap-utils"
    );
    eprintln!("skipped: {missing:?} missing (apt-get install slapd ldap-utils)");
    false
}

fn run(what: &str, cmd: &mut Command, stdin: Option<&str>) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `{SSHA}` of `password`, by slappasswd.
fn ssha(password: &str) -> String {
    run(
        "slappasswd",
        Command::new(SLAPPASSWD).args(["-s", password]),
        None,
    )
    .trim()
    .to_owned()
}

/// The `cn=config` of a slapd under `dir`: one mdb database for
/// dc=example,dc=com with the memberof overlay; passwords readable by
/// nobody, everything else by everyone (the anonymous search).
fn config_ldif(dir: &Path, tls: Option<(&Path, &Path)>) -> String {
    let d = dir.display();
    let tls = tls.map_or_else(String::new, |(cert, key)| {
        format!(
            "olcTLSCertificateFile: {}\nolcTLSCertificateKeyFile: {}\n",
            cert.display(),
            key.display()
        )
    });
    format!(
        "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcArgsFile: {d}/slapd.args
{tls}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {d}/data
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {ROOT_PW}
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by * read

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
"
    )
}

/// The directory: the service account, dora and eve (groups staff and
/// admins for dora, staff for eve), the directory's bob, and two entries
/// named `twin`.
fn data_ldif() -> String {
    let person = |uid: &str, ou: &str, cn: &str, mail: &str, pw: &str| {
        format!(
            "dn: uid={uid},{ou}
objectClass: inetOrgPerson
uid: {uid}
cn: {cn}
sn: {cn}
mail: {mail}
userPassword: {}

",
            ssha(pw)
        )
    };
    let mut ldif = format!(
        "dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: ou=contractors,{SUFFIX}
objectClass: organizationalUnit
ou: contractors

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: {READER_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: {READER_PW}

"
    );
    ldif += &person(
        DORA.0,
        PEOPLE,
        "Dora Directory",
        "dora@corp.example",
        DORA.1,
    );
    ldif += &person(EVE.0, PEOPLE, "Eve Directory", "eve@corp.example", EVE.1);
    ldif += &person(
        "bob",
        PEOPLE,
        "Bob Directory",
        "bob@corp.example",
        BOB_IN_DIRECTORY,
    );
    ldif += &person(
        "twin",
        PEOPLE,
        "Twin One",
        "twin1@corp.example",
        "twin-password-1",
    );
    ldif += &person(
        "twin",
        &format!("ou=contractors,{SUFFIX}"),
        "Twin Two",
        "twin2@corp.example",
        "twin-password-1",
    );
    ldif += &format!(
        "dn: cn=staff,ou=groups,{SUFFIX}
objectClass: groupOfNames
cn: staff
member: uid=dora,{PEOPLE}
member: uid=eve,{PEOPLE}

dn: cn=admins,ou=groups,{SUFFIX}
objectClass: groupOfNames
cn: admins
member: uid=dora,{PEOPLE}
"
    );
    ldif
}

impl Slapd {
    /// A seeded slapd on a free port (plus `ldaps://` on another with `tls`).
    fn start(tls: bool) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let certs = tls.then(|| test_certificates(dir.path(), "IP:127.0.0.1"));
        std::fs::create_dir(dir.path().join("slapd.d")).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let config = config_ldif(
            dir.path(),
            certs
                .as_ref()
                .map(|(_, cert, key)| (cert.as_path(), key.as_path())),
        );
        run(
            "slapadd -n0",
            Command::new(SLAPADD)
                .args(["-n0", "-F"])
                .arg(dir.path().join("slapd.d"))
                .args(["-l", "/dev/stdin"]),
            Some(&config),
        );
        let mut s = Slapd {
            port: free_port(),
            tls: certs.map(|(ca, _, _)| (free_port(), ca)),
            dir,
            child: None,
        };
        s.spawn();
        run(
            "ldapadd",
            Command::new(LDAPADD).args(["-x", "-H", &s.url(), "-D", ROOT_DN, "-w", ROOT_PW]),
            Some(&data_ldif()),
        );
        s
    }

    /// Runs slapd (again) on its ports, and waits until it answers.
    fn spawn(&mut self) {
        let mut urls = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some((p, _)) = &self.tls {
            urls += &format!(" ldaps://127.0.0.1:{p}/");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("slapd.log"))
            .unwrap();
        // `-d`: stay in the foreground; `stats`: one line per operation.
        let child = Command::new(SLAPD)
            .args(["-d", "stats", "-h", &urls, "-F"])
            .arg(self.dir.path().join("slapd.d"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn slapd");
        self.child = Some(child);
        let port = self.port;
        let up = wait_blocking(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "slapd did not start:\n{}", self.log());
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Kills slapd (the directory is down).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// The BIND requests slapd logged for `dn` (one `method=` line each; a
    /// successful one adds a `mech=` line).
    fn binds_as(&self, dn: &str) -> usize {
        let needle = format!("BIND dn=\"{dn}\" method=");
        self.log().lines().filter(|l| l.contains(&needle)).count()
    }

    /// Applies an LDIF change as the root DN.
    fn modify(&self, ldif: &str) {
        run(
            "ldapmodify",
            Command::new("/usr/bin/ldapmodify").args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PW,
            ]),
            Some(ldif),
        );
    }
}

/// The `[[ldap]]` table for `url` (the service account, people's base),
/// plus `keys`.
fn directory(url: &str, keys: &str) -> String {
    format!(
        r#"
[[ldap]]
id = "corp"
display_name = "Corp Directory"
url = "{url}"
bind_dn = "{READER_DN}"
bind_password = "{READER_PW}"
user_base = "{SUFFIX}"
timeout_secs = 2
{keys}
"#
    )
}

/// frontdesk on `db`: `top` (top-level keys), SIGNIN_CONFIG, then `ldap`.
fn server(dir: tempfile::TempDir, db: &Database, top: &str, ldap: &str) -> Server {
    Server::start_in(dir, &db.url, &format!("{top}\n{SIGNIN_CONFIG}\n{ldap}"))
}

// ----- the browser side -----

/// app1's login page in a new browser, and the PKCE verifier.
async fn login_page(s: &Server) -> (Browser, Page, String) {
    let (verifier, challenge) = pkce();
    let b = Browser::new(s);
    let p = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid profile email",
            &challenge,
            &[],
        ))
        .await,
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("name=\"password\""), "{}", p.body);
    (b, p, verifier)
}

/// Submits app1's login page as `user` in a new browser.
async fn try_login(s: &Server, user: (&str, &str)) -> Page {
    let (b, p, _) = login_page(s).await;
    page(b.login(&p, user).await)
}

/// Signs in as `user` through app1 (login, consent) and returns the ID
/// token's claims.
async fn sign_in(s: &Server, user: (&str, &str)) -> Value {
    signed_in(s, user).await.0
}

/// [`sign_in`], and the browser (with its session).
async fn signed_in(s: &Server, user: (&str, &str)) -> (Value, Browser) {
    let (b, p, verifier) = login_page(s).await;
    let mut end = b.login(&p, user).await;
    let cb = loop {
        match end {
            End::Redirect(u) => break u,
            End::Page(p) => {
                assert_eq!(p.status, 200, "{}", p.body);
                assert!(p.body.contains("action=\"/consent\""), "{}", p.body);
                end = b.consent(&p, "approve").await;
            }
        }
    };
    assert!(cb.as_str().starts_with(APP1_CB), "{cb}");
    let code = query(&cb, "code").unwrap();
    let r = s
        .post_form(
            "/token",
            Some(APP1),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", APP1_CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    (jwt_parts(body["id_token"].as_str().unwrap()).1, b)
}

/// The user `username` as the admin API shows it, if any.
async fn user(s: &Server, username: &str) -> Option<Value> {
    let r = s
        .admin_req(Method::GET, &format!("/admin/users/{username}"), None)
        .await;
    match r.status() {
        StatusCode::NOT_FOUND => None,
        StatusCode::OK => Some(r.json().await.unwrap()),
        other => panic!("admin user {username}: {other}"),
    }
}

/// The audit events of `kind`, oldest first.
async fn events(s: &Server, kind: &str) -> Vec<Value> {
    let r = s
        .admin_req(Method::GET, &format!("/admin/audit?kind={kind}"), None)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let mut out = body["events"].as_array().unwrap().clone();
    out.sort_by_key(|e| e["at"].as_i64());
    out
}

fn assert_incorrect(p: &Page, why: &str) {
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{why}: {}", p.body);
    assert!(p.body.contains(INCORRECT), "{why}: {}", p.body);
}

fn assert_unavailable(p: &Page, why: &str) {
    assert_eq!(
        p.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{why}: {}",
        p.body
    );
    assert_eq!(p.headers["retry-after"], "1", "{why}");
    assert!(p.body.contains(UNAVAILABLE), "{why}: {}", p.body);
}

// ----- the cases -----

/// A first sign-in provisions an account from the entry (mail, cn, uid;
/// no password), the ID token's `amr` is `["pwd"]`; the second finds the
/// same `sub` through the link.
async fn bind_and_provisioning(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), ""));
    assert!(user(&s, "dora").await.is_none());

    let first = sign_in(&s, DORA).await;
    assert_eq!(first["amr"], serde_json::json!(["pwd"]), "{first}");
    let dora = user(&s, "dora").await.expect("provisioned");
    assert_eq!(first["sub"], dora["sub"]);
    assert_eq!(dora["email"], "dora@corp.example");
    assert_eq!(dora["email_verified"], true);
    assert_eq!(dora["name"], "Dora Directory");
    assert_eq!(dora["has_password"], false);
    assert_eq!(first["email"], "dora@corp.example");
    assert_eq!(first["name"], "Dora Directory");

    let second = sign_in(&s, DORA).await;
    assert_eq!(second["sub"], first["sub"], "the same account");
    assert_eq!(second["amr"], serde_json::json!(["pwd"]));

    // The trail: who, which directory, how, and the groups as a count
    // (staff and admins through memberOf).
    let ok = events(&s, "login.success").await;
    let hows: Vec<&Value> = ok.iter().map(|e| &e["detail"]["how"]).collect();
    assert_eq!(hows, ["provisioned", "linked"], "{ok:?}");
    for e in &ok {
        assert_eq!(e["subject"], first["sub"]);
        assert_eq!(e["detail"]["idp"], "corp", "{e}");
        assert_eq!(e["detail"]["groups"], 2, "{e}");
    }
    assert_eq!(slapd.binds_as(&format!("uid=dora,{PEOPLE}")), 2);
    assert!(!s.log().contains(DORA.1), "the password is never logged");
}
both!(with_db bind_and_provisioning);

/// Directories are asked in order: a name the first does not know goes to
/// the next, and the first that knows it decides. The session list names
/// the directory.
async fn directories_are_asked_in_order(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(false);
    let contractors = format!(
        r#"
[[ldap]]
id = "contractors"
url = "{}"
user_base = "ou=contractors,{SUFFIX}"
"#,
        slapd.url()
    );
    let corp = directory(&slapd.url(), "").replace(
        &format!("user_base = \"{SUFFIX}\""),
        &format!("user_base = \"{PEOPLE}\""),
    );
    let s = server(dir, &db, "", &format!("{contractors}\n{corp}"));
    let (dora, b) = signed_in(&s, DORA).await;
    // Two entries are named twin, one in each directory's base.
    let twin = sign_in(&s, ("twin", "twin-password-1")).await;
    assert_ne!(dora["sub"], twin["sub"]);
    let ok = events(&s, "login.success").await;
    let idps: Vec<&Value> = ok.iter().map(|e| &e["detail"]["idp"]).collect();
    assert_eq!(idps, ["corp", "contractors"], "{ok:?}");
    assert_eq!(
        user(&s, "twin").await.unwrap()["email"],
        "twin2@corp.example"
    );
    let account = page(b.get(&s.url("/account")).await);
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(
        account.body.contains("through Corp Directory"),
        "{}",
        account.body
    );
}
both!(with_db directories_are_asked_in_order);

/// A renamed entry renames the account at its next sign-in.
async fn a_changed_cn_updates_the_name(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), ""));
    let first = sign_in(&s, DORA).await;
    assert_eq!(user(&s, "dora").await.unwrap()["name"], "Dora Directory");
    slapd.modify(&format!(
        "dn: uid=dora,{PEOPLE}\nchangetype: modify\nreplace: cn\ncn: Dora Renamed\n"
    ));
    let again = sign_in(&s, DORA).await;
    assert_eq!(again["sub"], first["sub"]);
    assert_eq!(again["name"], "Dora Renamed");
    assert_eq!(user(&s, "dora").await.unwrap()["name"], "Dora Renamed");
}
both!(with_db a_changed_cn_updates_the_name);

/// A wrong password is a counted failure; past the account limit the
/// attempt is refused before any directory is asked — with slapd gone it
/// is still 429, never 503.
async fn wrong_passwords_are_counted_before_the_directory(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let mut slapd = Slapd::start(false);
    let s = server(
        dir,
        &db,
        "login_max_failures_per_account = 3",
        &directory(&slapd.url(), ""),
    );
    for n in 1..=3 {
        let p = try_login(&s, (EVE.0, "not-eves-password")).await;
        assert_incorrect(&p, &format!("wrong password {n}"));
    }
    assert_eq!(
        slapd.binds_as(&format!("uid=eve,{PEOPLE}")),
        3,
        "each within the limit was a bind"
    );
    let p = try_login(&s, EVE).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.body);
    slapd.stop();
    for user in [EVE, (EVE.0, "another-guess")] {
        let p = try_login(&s, user).await;
        assert_eq!(
            p.status,
            StatusCode::TOO_MANY_REQUESTS,
            "refused before the (stopped) directory: {}",
            p.body
        );
    }
    assert!(user(&s, "eve").await.is_none(), "no account was made");
    let failures = events(&s, "login.failure").await;
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_eq!(events(&s, "login.throttled").await.len(), 3);
}
both!(with_db wrong_passwords_are_counted_before_the_directory);

/// An empty password is a failed login without a bind (RFC 4513 §5.1.2:
/// an unauthenticated bind would "succeed").
async fn an_empty_password_never_binds(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), ""));
    let p = try_login(&s, (DORA.0, "")).await;
    assert_incorrect(&p, "empty password");
    assert!(user(&s, "dora").await.is_none());
    // The log does show binds: the right password makes one.
    sign_in(&s, DORA).await;
    let dn = format!("uid=dora,{PEOPLE}");
    let seen = wait_until(Duration::from_secs(5), async || {
        (slapd.binds_as(&dn) > 0).then_some(())
    })
    .await;
    assert!(seen.is_some(), "slapd logs binds:\n{}", slapd.log());
    assert_eq!(slapd.binds_as(&dn), 1, "only the real password was bound");
}
both!(with_db an_empty_password_never_binds);

/// Filter metacharacters in the typed name are escaped (RFC 4515 §3): they
/// match nobody, bind nobody; a name two entries share is refused.
async fn filter_injection_matches_nobody(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), ""));
    for name in [
        "*",
        "dora)(uid=*",
        "*)(|(uid=*",
        "d*",
        "dora)(|(objectClass=*)",
    ] {
        let p = try_login(&s, (name, DORA.1)).await;
        assert_incorrect(&p, name);
    }
    let p = try_login(&s, ("twin", "twin-password-1")).await;
    assert_incorrect(&p, "two entries named twin");
    let log = slapd.log();
    assert!(log.contains("filter=\"(uid=\\2A)\""), "escaped:\n{log}");
    for dn in [
        format!("uid=dora,{PEOPLE}"),
        format!("uid=twin,{PEOPLE}"),
        format!("uid=twin,ou=contractors,{SUFFIX}"),
    ] {
        assert_eq!(slapd.binds_as(&dn), 0, "{dn}");
    }
    assert!(s.log().contains("more than one directory entry matches"));
    assert!(user(&s, "dora").await.is_none());
}
both!(with_db filter_injection_matches_nobody);

/// slapd stopped: 503 with `Retry-After` and the directory's page, for
/// more attempts than the account limit (not counted: never 429); started
/// again, the same account signs in at once.
async fn directory_down_fails_closed(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let mut slapd = Slapd::start(false);
    let s = server(
        dir,
        &db,
        "login_max_failures_per_account = 3",
        &directory(&slapd.url(), ""),
    );
    slapd.stop();
    for n in 1..=5 {
        let p = try_login(&s, DORA).await;
        assert_unavailable(&p, &format!("attempt {n}"));
    }
    assert!(user(&s, "dora").await.is_none());
    assert!(s.log().contains("directory unavailable"), "{}", s.log());
    slapd.spawn();
    let id = sign_in(&s, DORA).await;
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    let failures = events(&s, "login.failure").await;
    assert_eq!(failures.len(), 5);
    assert!(
        failures
            .iter()
            .all(|e| e["detail"]["reason"] == "directory_unavailable"),
        "{failures:?}"
    );
}
both!(with_db directory_down_fails_closed);

/// A directory that accepts the connection and never answers: 503 after
/// `timeout_secs`.
async fn a_silent_directory_times_out(dir: tempfile::TempDir, db: Database) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let s = server(
        dir,
        &db,
        "",
        &directory(&url, "").replace("timeout_secs = 2", "timeout_secs = 1"),
    );
    let started = std::time::Instant::now();
    let p = try_login(&s, DORA).await;
    assert_unavailable(&p, "no answer");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);
}
both!(with_db a_silent_directory_times_out);

/// `provision = false`: a directory user without an account gets the
/// invite-only page, and no account.
async fn without_provisioning_the_account_must_exist(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), "provision = false"));
    let p = try_login(&s, DORA).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(p.body.contains("No account for this sign-in"), "{}", p.body);
    assert!(p.body.contains("Corp Directory"), "{}", p.body);
    assert!(user(&s, "dora").await.is_none());
    let refused = events(&s, "upstream.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["detail"]["reason"], "not_provisioned");
}
both!(with_db without_provisioning_the_account_must_exist);

/// A local account with a password is checked locally: the directory's
/// password for the same name does not work, and neither needs slapd.
async fn a_local_password_never_goes_to_the_directory(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let mut slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), ""));
    let p = try_login(&s, (BOB_LOCAL.0, BOB_IN_DIRECTORY)).await;
    assert_incorrect(&p, "the directory's bob's password");
    assert!(
        !slapd.log().contains("(uid=bob)"),
        "never searched:\n{}",
        slapd.log()
    );
    assert_eq!(slapd.binds_as(&format!("uid=bob,{PEOPLE}")), 0);
    slapd.stop();
    let id = sign_in(&s, BOB_LOCAL).await;
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    let p = try_login(&s, (BOB_LOCAL.0, BOB_IN_DIRECTORY)).await;
    assert_incorrect(&p, "still local, with slapd down");
}
both!(with_db a_local_password_never_goes_to_the_directory);

/// An account the directory made stays the directory's: a local password
/// an administrator (or a reset link) gives it later does not sign in,
/// and with the directory down the login is a 503, not a local check.
async fn a_directory_account_stays_the_directorys(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let mut slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), ""));
    sign_in(&s, DORA).await;
    let r = s
        .admin_req(
            reqwest::Method::PUT,
            "/admin/users/dora/password",
            Some(serde_json::json!({"password": "a local password 0123456789"})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let p = try_login(&s, ("dora", "a local password 0123456789")).await;
    assert_incorrect(&p, "the local password is not the directory's");
    let id = sign_in(&s, DORA).await;
    assert_eq!(
        id["amr"],
        serde_json::json!(["pwd"]),
        "the directory's still is"
    );
    // Nor can the account page disconnect it from its directory.
    let (_, b) = signed_in(&s, DORA).await;
    let account = b.get(&s.url("/account")).await;
    let account = crate::browser::page(account);
    let csrf = account
        .input("csrf")
        .expect("the account page's form token");
    let r = b
        .http
        .post(s.url("/account/upstreams/unlink"))
        .form(&[("csrf", csrf.as_str()), ("upstream", "corp")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("belongs to a directory"));
    slapd.stop();
    let p = try_login(&s, ("dora", "a local password 0123456789")).await;
    assert_unavailable(&p, "asked of the directory, which is down");
}
both!(with_db a_directory_account_stays_the_directorys);

/// LDAPS with the test CA in `ca_file`, an anonymous search and a group
/// search (groupOfNames, `(member={dn})`); and StartTLS to a certificate
/// nobody trusts fails closed.
async fn tls_and_a_group_search(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(true);
    let (ldaps_port, ca) = slapd.tls.clone().unwrap();
    let ldaps = format!(
        r#"
[[ldap]]
id = "corp"
url = "ldaps://127.0.0.1:{ldaps_port}"
ca_file = "{}"
user_base = "{PEOPLE}"
group_base = "ou=groups,{SUFFIX}"
group_filter = "(&(objectClass=groupOfNames)(member={{dn}}))"
"#,
        ca.display()
    );
    let s = server(dir, &db, "", &ldaps);
    let id = sign_in(&s, DORA).await;
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    let ok = events(&s, "login.success").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["detail"]["groups"], 2, "{ok:?}");
    let p = try_login(&s, (EVE.0, "wrong")).await;
    assert_incorrect(&p, "over LDAPS");

    // StartTLS on the plain port, without the CA: the handshake fails.
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = Database::new(crate::support::Backend::Sqlite, dir2.path())
        .await
        .unwrap();
    let untrusted = format!(
        r#"
[[ldap]]
id = "corp"
url = "ldap://127.0.0.1:{}"
starttls = true
user_base = "{PEOPLE}"
"#,
        slapd.port
    );
    let s2 = server(dir2, &db2, "", &untrusted);
    let p = try_login(&s2, DORA).await;
    assert_unavailable(&p, "untrusted certificate");
    assert!(user(&s2, "dora").await.is_none());
    let log = s2.log();
    assert!(
        log.contains("directory unavailable") && log.contains("certificate"),
        "a TLS failure: {log}"
    );
}
both!(with_db tls_and_a_group_search);

/// The groups of `username` at `s`, as the admin API lists them.
async fn groups_of(s: &Server, username: &str) -> Value {
    let path = format!("/admin/users/{username}/groups");
    s.admin_expect(Method::GET, &path, None, 200).await["groups"].clone()
}

/// The entry's groups become the account's memberships from the
/// directory at each sign-in, under the prefix `corp:` (created as
/// needed); a group the administrator gave the account stays. With
/// `group_prefix = ""` the directory only reaches groups that exist here.
async fn directory_groups_become_memberships(dir: tempfile::TempDir, db: Database) {
    if !slapd_available() {
        return;
    }
    let slapd = Slapd::start(false);
    let s = server(dir, &db, "", &directory(&slapd.url(), ""));
    sign_in(&s, DORA).await;
    assert_eq!(
        groups_of(&s, "dora").await,
        serde_json::json!(["corp:admins", "corp:staff"])
    );
    s.admin_expect(
        Method::POST,
        "/admin/groups",
        Some(serde_json::json!({"name": "local"})),
        201,
    )
    .await;
    s.admin_expect(Method::PUT, "/admin/groups/local/members/dora", None, 204)
        .await;

    // Out of staff in the directory: out of corp:staff at the next sign-in.
    slapd.modify(&format!(
        "dn: cn=staff,ou=groups,{SUFFIX}\nchangetype: modify\ndelete: member\nmember: uid=dora,{PEOPLE}\n"
    ));
    sign_in(&s, DORA).await;
    assert_eq!(
        groups_of(&s, "dora").await,
        serde_json::json!(["corp:admins", "local"])
    );
    let synced = events(&s, "groups.sync").await;
    let counts: Vec<(&Value, &Value)> = synced
        .iter()
        .map(|e| (&e["detail"]["added"], &e["detail"]["removed"]))
        .collect();
    assert_eq!(counts, [(&2.into(), &0.into()), (&0.into(), &1.into())]);
    assert_eq!(synced[0]["detail"]["idp"], "corp");
    // A sign-in that changes nothing records nothing.
    sign_in(&s, DORA).await;
    assert_eq!(events(&s, "groups.sync").await.len(), 2);

    // Without a prefix: eve's staff is this server's staff, admins does
    // not exist here and is not made.
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = Database::new(crate::support::Backend::Sqlite, dir2.path())
        .await
        .unwrap();
    let s2 = server(
        dir2,
        &db2,
        "",
        &directory(&slapd.url(), "group_prefix = \"\""),
    );
    s2.admin_expect(
        Method::POST,
        "/admin/groups",
        Some(serde_json::json!({"name": "staff"})),
        201,
    )
    .await;
    sign_in(&s2, DORA).await;
    assert_eq!(groups_of(&s2, "dora").await, serde_json::json!([]));
    sign_in(&s2, EVE).await;
    assert_eq!(groups_of(&s2, "eve").await, serde_json::json!(["staff"]));
    s2.admin_expect(Method::GET, "/admin/groups/admins", None, 404)
        .await;
}
both!(with_db directory_groups_become_memberships);
