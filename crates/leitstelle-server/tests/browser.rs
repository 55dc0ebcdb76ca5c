//! The web console in real headless browsers, Chromium and Firefox: a real server on a free
//! port with seeded users and tenants, driven through WebDriver (Debian's `chromium` with
//! `chromedriver`; `firefox-esr` with `geckodriver`, built by `cargo install`) by
//! the Selenium script `tests/browser/console_e2e.py`, which logs in, watches an alert
//! arrive live, triages it, works a case, hunts, proposes and reviews a rule change, checks
//! a customer's view and that event data stays inert on every page that shows events, and
//! saves a screenshot of each main page.
//!
//! Without a browser, its driver or Python's selenium the test says so and passes, unless
//! `LEITSTELLE_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs them). Screenshots go
//! to `LEITSTELLE_E2E_ARTIFACTS/<browser>`, else under Cargo's test tmpdir.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use leitstelle_control::{Principal, Role};
use serde_json::json;

use common::{TestServer, temp_dir, test_config};

const PASSWORD: &str = "browser test password";

/// Whether `python3` can import selenium.
fn selenium() -> bool {
    Command::new("python3")
        .args(["-c", "import selenium"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// geckodriver on the PATH or in Cargo's bin folder (`cargo install geckodriver`).
fn geckodriver() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("geckodriver"))
        .find(|p| p.is_file())
}

/// Says why a browser cannot be tested, and fails when browsers are required.
fn unavailable(browser: &str, missing: &[String]) {
    let why = format!("missing {}", missing.join(", "));
    if std::env::var("LEITSTELLE_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("the {browser} test is required (LEITSTELLE_REQUIRE_BROWSER=1): {why}");
    }
    eprintln!("SKIPPED: console test in {browser}: {why} (.ci/run installs it)");
}

fn artifacts(browser: &str) -> PathBuf {
    std::env::var_os("LEITSTELLE_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"))
        .join(browser)
}

/// A fresh server with seeded tenants, users and ingest tokens; the script run against it
/// with `extra` added to its configuration.
async fn run_script(browser: &str, extra: serde_json::Value) {
    // One browser at a time: two servers and two browsers at once overload two cores.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = temp_dir(&format!("browser-{browser}"));
    let cfg = test_config(&dir);
    let mut server = TestServer::start_with(dir, cfg).await;
    let control = Arc::clone(&server.running().app.control);
    let (ingest_acme, ingest_beta) = tokio::task::spawn_blocking(move || {
        let sys = Principal::system();
        for t in ["acme", "beta"] {
            control.create_tenant(t, 0).expect("tenant");
        }
        // ann: the provider's analyst on both customers; erin and finn: detection engineers
        // (erin proposes, finn reviews); cora: a customer user of beta; root: admin.
        for (user, tenant, role) in [
            ("ann", "acme", Role::Tier2),
            ("erin", "acme", Role::Engineer),
            ("finn", "acme", Role::Engineer),
            ("cora", "beta", Role::Customer),
            ("root", "acme", Role::Admin),
        ] {
            control
                .create_user(&sys, user, PASSWORD, tenant, role, 0)
                .expect("user");
        }
        control
            .set_role(&sys, "ann", "beta", Role::Tier2, true, 0)
            .expect("role");
        control
            .set_role(&sys, "root", "beta", Role::Admin, true, 0)
            .expect("role");
        let (_, a) = control
            .create_token(&sys, "acme", Role::Ingest, "browser-acme", 0)
            .expect("token");
        let (_, b) = control
            .create_token(&sys, "beta", Role::Ingest, "browser-beta", 0)
            .expect("token");
        (a, b)
    })
    .await
    .expect("seed");

    let out = artifacts(browser);
    std::fs::create_dir_all(&out).expect("artifacts dir");
    let mut config = json!({
        "base": server.base,
        "password": PASSWORD,
        "ingest": {"acme": ingest_acme, "beta": ingest_beta},
        "artifacts": out,
        "browser": browser,
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console_e2e.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(config.to_string());
    let output = common::run(cmd).await;
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    println!("screenshots: {}", out.display());
    assert!(
        output.status.success(),
        "the browser script failed in {browser} ({}); see its output above",
        output.status
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium() {
    let mut missing: Vec<String> = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .map(String::from)
        .collect();
    if !selenium() {
        missing.push("python3 with selenium".into());
    }
    if !missing.is_empty() {
        return unavailable("chromium", &missing);
    }
    run_script("chromium", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_firefox() {
    let firefox = ["/usr/bin/firefox-esr", "/usr/bin/firefox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let gecko = geckodriver();
    let mut missing = Vec::new();
    if firefox.is_none() {
        missing.push("firefox-esr".to_string());
    }
    if gecko.is_none() {
        missing.push("geckodriver (cargo install geckodriver)".into());
    }
    if !selenium() {
        missing.push("python3 with selenium".into());
    }
    let (Some(firefox), Some(gecko)) = (firefox, gecko) else {
        return unavailable("firefox", &missing);
    };
    if !missing.is_empty() {
        return unavailable("firefox", &missing);
    }
    run_script("firefox", json!({"firefox": firefox, "geckodriver": gecko})).await;
}
