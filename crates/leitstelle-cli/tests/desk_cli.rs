//! The desk's command-line side: users and roles, `audit verify` finding tampering (exit 2,
//! naming the record), `rules import` of an upstream folder, on a SQLite data directory.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_leitstelle");

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("leitstelle-desk-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs the binary with `--data-dir` appended; returns (exit code, stdout, stderr).
fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("LEITSTELLE_DATABASE_URL")
        .output()
        .expect("leitstelle runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn users_roles_audit_verify_and_rule_import() {
    let dir = temp_dir("all");
    for t in ["mssp", "acme"] {
        assert_eq!(run(&dir, &["admin", "tenant", "create", t]).0, 0);
    }
    assert_eq!(
        run(&dir, &["admin", "tenant", "scope", "add", "mssp", "acme"]).0,
        0
    );
    let (code, password, err) = run(
        &dir,
        &[
            "admin", "user", "create", "ana", "--tenant", "mssp", "--role", "tier1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(password.trim().len(), 24);
    let (code, _, err) = run(
        &dir,
        &[
            "admin", "user", "grant", "ana", "--tenant", "acme", "--role", "hunter",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (_, users, _) = run(&dir, &["admin", "user", "list"]);
    assert!(
        users.contains("ana\tmssp\thunter@acme,tier1@mssp"),
        "{users}"
    );
    let (code, _, err) = run(
        &dir,
        &[
            "admin", "user", "grant", "nobody", "--tenant", "acme", "--role", "hunter",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("nobody"), "{err}");

    // Upstream import: a folder of two rules, one broken.
    let rules = dir.join("upstream");
    std::fs::create_dir_all(&rules).expect("dir");
    std::fs::write(
        rules.join("a.yml"),
        "title: A\nid: 11111111-1111-4111-8111-111111111111\nlogsource:\n  product: windows\n\
         detection:\n  sel:\n    EventID: 1\n  condition: sel\n",
    )
    .expect("write");
    std::fs::write(rules.join("broken.yml"), "title: [").expect("write");
    let up = rules.to_string_lossy().to_string();
    let (code, _, err) = run(&dir, &["rules", "import", &up]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 added") && err.contains("1 skipped"),
        "{err}"
    );
    let (_, _, err) = run(&dir, &["rules", "import", &up]);
    assert!(err.contains("1 unchanged"), "{err}");

    // The audit log verifies, then a tampered record is found and named.
    let (code, out, err) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("0 problem"), "{err}");
    let (_, heads, _) = run(&dir, &["audit", "heads"]);
    assert!(heads.lines().any(|l| l.starts_with("acme\t")), "{heads}");
    let db = leitstelle_control::Control::open(&dir.join("data/control.db")).expect("db");
    let n = db
        .execute_raw(
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2 AND chain = \
             (SELECT id FROM tenants WHERE name = 'mssp')",
            &[],
        )
        .expect("tamper");
    assert_eq!(n, 1);
    drop(db);
    let (code, out, err) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("chain mssp, record 2") && out.contains("changed"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
