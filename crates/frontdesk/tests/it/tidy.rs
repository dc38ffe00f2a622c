//! Tidy tests: the dependency rule and the other invariants of
//! ARCHITECTURE.md, checked by reading the sources.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// `[dependencies]` names of a crate's manifest (normal deps only).
fn dependencies(krate: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                deps.push(name.to_owned());
            }
        }
    }
    deps
}

/// Lines of code (not comments) in a crate's sources that mention `word`
/// as a path root.
fn mentions(krate: &str, words: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in rust_files(&workspace().join("crates").join(krate).join("src")) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for w in words {
                let pat = format!("{w}::");
                let hit = code.match_indices(&pat).any(|(at, _)| {
                    !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    hits.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    hits
}

const WEB_AND_SQL: &[&str] = &["axum", "hyper", "http", "sqlx", "reqwest", "tower", "tokio"];

#[test]
fn core_names_no_http_and_no_sql() {
    let deps = dependencies("core");
    for banned in WEB_AND_SQL {
        assert!(
            !deps.iter().any(|d| d == banned),
            "core depends on {banned}"
        );
    }
    let hits = mentions("core", WEB_AND_SQL);
    assert!(
        hits.is_empty(),
        "core mentions HTTP/SQL crates:\n{}",
        hits.join("\n")
    );
}

#[test]
fn arrows_point_toward_jose() {
    let internal = |k: &str| -> Vec<String> {
        dependencies(k)
            .into_iter()
            .filter(|d| d.starts_with("frontdesk"))
            .collect()
    };
    assert_eq!(internal("jose"), Vec::<String>::new());
    assert_eq!(internal("core"), ["frontdesk-jose"]);
    assert_eq!(internal("store"), ["frontdesk-core"]);
    assert_eq!(
        internal("resource"),
        ["frontdesk-jose"],
        "the door never sees core or store"
    );
    // The server's clients (Cargo enforces what they cannot see; `.ci/run`
    // checks their whole graphs with `cargo tree`).
    assert_eq!(internal("rp"), ["frontdesk-resource", "frontdesk-jose"]);
    assert_eq!(internal("web"), Vec::<String>::new());
    assert_eq!(
        internal("gateway"),
        ["frontdesk-resource", "frontdesk-web"],
        "the gateway never sees core or store"
    );
    assert_eq!(
        internal("demo"),
        ["frontdesk-rp", "frontdesk-resource", "frontdesk-web"],
        "the demo never sees core or store"
    );
    for k in [
        "jose", "core", "store", "resource", "rp", "web", "gateway", "demo",
    ] {
        assert!(
            !internal(k).iter().any(|d| d == "frontdesk"),
            "{k} depends on the binary"
        );
    }
}

/// The clients of the server name none of the server's heavy dependencies
/// directly (transitively: `.ci/run`'s `cargo tree` check).
#[test]
fn clients_of_the_server_carry_no_database_or_templates() {
    for k in ["rp", "web", "gateway"] {
        for banned in [
            "sqlx",
            "argon2",
            "minijinja",
            "frontdesk-core",
            "frontdesk-store",
        ] {
            assert!(
                !dependencies(k).iter().any(|d| d == banned),
                "{k} depends on {banned}"
            );
        }
    }
}

#[test]
fn only_the_binary_reads_env_or_files() {
    for k in ["jose", "core", "resource", "rp", "web"] {
        let hits = mentions(k, &["std::env", "std::fs", "env", "fs"]);
        assert!(hits.is_empty(), "{k} does I/O:\n{}", hits.join("\n"));
    }
    // The store reads one test-only variable in its `testing` module.
    for f in rust_files(&workspace().join("crates/store/src")) {
        if f.ends_with("testing.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("std::env"),
            "{} reads the environment",
            f.display()
        );
    }
}

#[test]
fn only_http_error_builds_oauth_error_bodies() {
    for f in rust_files(&workspace().join("crates/frontdesk/src")) {
        if f.ends_with("http/error.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("\"error_description\""),
            "{} shapes an OAuth error body; use http::error",
            f.display()
        );
    }
}

#[test]
fn architecture_names_every_crate() {
    let arch = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).unwrap();
    for k in [
        "frontdesk-jose",
        "frontdesk-core",
        "frontdesk-store",
        "frontdesk-resource",
        "frontdesk-rp",
        "frontdesk-web",
        "frontdesk-gateway",
        "frontdesk-demo",
        "crates/frontdesk",
    ] {
        assert!(arch.contains(k), "ARCHITECTURE.md does not mention {k}");
    }
}

/// `http/openapi.json` (kept by hand) describes exactly the routes the
/// admin router mounts: a new route without its documentation, or a
/// documented path that no longer exists, fails here.
#[test]
fn openapi_describes_every_admin_route() {
    let dir = workspace().join("crates/frontdesk/src/http");
    let source = std::fs::read_to_string(dir.join("admin.rs")).unwrap();
    let router = &source[source.find("pub fn router").unwrap()..];
    let router = &router[..router.find("\n}\n").unwrap()];
    let mut routes: Vec<&str> = router
        .split('"')
        .filter(|s| s.starts_with("/admin/") && *s != "/admin/openapi.json")
        .collect();
    routes.sort_unstable();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("openapi.json")).unwrap()).unwrap();
    let mut documented: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    documented.sort_unstable();
    assert_eq!(routes, documented);
}
