//! The `leitstelle` binary end to end on the repository's examples: output formats against
//! golden files (regenerate with `UPDATE_GOLDEN=1 cargo test -p leitstelle-cli`), exit codes,
//! and bad arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn leitstelle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leitstelle"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual,
        expected,
        "{} differs (UPDATE_GOLDEN=1 regenerates it)",
        path.display()
    );
}

#[test]
fn hunt_examples_in_every_format() {
    for (format, file) in [
        ("csv", "hunt.csv"),
        ("jsonl", "hunt.jsonl"),
        ("table", "hunt.txt"),
    ] {
        let out = leitstelle(&[
            "hunt",
            "examples/logs",
            "--rules",
            "examples/rules",
            "--format",
            format,
        ]);
        // One line of the NDJSON sample is not JSON: reported, counted, exit code 2.
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("winlogbeat.ndjson:line 3: invalid JSON"),
            "{stderr}"
        );
        assert!(
            stderr.contains("detections:   3 (critical 0, high 1, medium 1, low 1"),
            "{stderr}"
        );
        golden(file, &String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn filters_narrow_the_run() {
    let out = leitstelle(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--format",
        "jsonl",
        "--min-level",
        "high",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("Comsvcs MiniDump"));
    let out = leitstelle(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--format",
        "jsonl",
        "--tag",
        "attack.t1110*",
        "--from",
        "2024-01-01",
        "-q",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("SSH Failed Password For Root"));
    assert!(out.stderr.is_empty(), "--quiet prints no summary");
}

#[test]
fn clean_input_exits_zero_and_fatal_errors_exit_one() {
    let out = leitstelle(&[
        "hunt",
        "examples/logs/sysmon_10_1_memdump_comsvcs_minidump.evtx",
        "--rules",
        "examples/rules",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = leitstelle(&["hunt", "examples/logs", "--rules", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: rule folder does/not/exist"),
        "{stderr}"
    );
    let out = leitstelle(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--from",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid time `yesterday`"));
}

#[test]
fn rules_check_reports_diagnostics() {
    let dir = std::env::temp_dir().join(format!("leitstelle-cli-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("good.yml"),
        "title: ok\nlogsource: {product: windows}\ndetection: {sel: {a: 1}, condition: sel}\n",
    )
    .expect("write");
    std::fs::write(dir.join("bad.yml"), "title: bad\nlogsource: {product: windows}\ndetection:\n  sel: {a|nope: 1}\n  condition: sel\n")
        .expect("write");
    let d = dir.to_string_lossy().to_string();
    let out = leitstelle(&["rules", "check", "--rules", &d, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let diag: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON diagnostic");
    assert_eq!(diag["code"], "S005");
    assert_eq!(diag["line"], 4);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("1 rules, 0 filters, 0 correlations loaded; 1 errors")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_explains_every_flag() {
    let out = leitstelle(&["hunt", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--rules",
        "--min-level",
        "--format",
        "--output",
        "--from",
        "--to",
        "--rule-id",
        "--exclude-rule-id",
        "--tag",
        "--exclude-tag",
        "--status",
        "--profile",
        "--placeholders",
        "--threads",
        "--errors",
        "--diagnostics",
        "--quiet",
        "--no-progress",
        "--include-deprecated",
        "--include-unsupported",
        "--tenant",
        "--max-record-bytes",
    ] {
        assert!(help.contains(flag), "{flag} missing from hunt --help");
    }
}
