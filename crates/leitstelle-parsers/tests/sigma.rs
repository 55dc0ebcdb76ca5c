//! Parsed records matched by Sigma rules through the built-in profiles: rules in the shape
//! of SigmaHQ's auditd, Kubernetes audit and DNS rules (small copies in
//! `fixtures/rules/`) find the records they are about and nothing else.

use std::sync::Arc;

use leitstelle_event::Origin;
use leitstelle_parsers::{Format, ParseContext, parse, to_event};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch};

const RULES: &[(&str, &str)] = &[
    (
        "lnx_auditd_port_redirect.yml",
        include_str!("fixtures/rules/lnx_auditd_port_redirect.yml"),
    ),
    (
        "lnx_auditd_clear_kernel_ring_buffer.yml",
        include_str!("fixtures/rules/lnx_auditd_clear_kernel_ring_buffer.yml"),
    ),
    (
        "lnx_auditd_firewall_stopped.yml",
        include_str!("fixtures/rules/lnx_auditd_firewall_stopped.yml"),
    ),
    (
        "kubernetes_audit_exec_into_container.yml",
        include_str!("fixtures/rules/kubernetes_audit_exec_into_container.yml"),
    ),
    (
        "kubernetes_audit_hostpath_mount.yml",
        include_str!("fixtures/rules/kubernetes_audit_hostpath_mount.yml"),
    ),
    (
        "net_dns_susp_telegram_api.yml",
        include_str!("fixtures/rules/net_dns_susp_telegram_api.yml"),
    ),
    (
        "cef_checkpoint_web.yml",
        include_str!("fixtures/rules/cef_checkpoint_web.yml"),
    ),
];

const FIXTURES: &[(&str, &str)] = &[
    ("auditd", include_str!("fixtures/auditd.log")),
    ("cef", include_str!("fixtures/cef.log")),
    ("leef", include_str!("fixtures/leef.log")),
    ("json", include_str!("fixtures/json.ndjson")),
];

#[test]
fn rules_match_the_records_they_are_about() {
    let set = RuleSet::load(RULES.iter().copied(), &LoadOptions::default());
    assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    let profiles = ProfileSet::builtin();
    let engine = Engine::compile(set.rules, &profiles);
    let mut scratch = Scratch::new();
    let mut hits = Vec::new();
    for (name, fixture) in FIXTURES {
        for (n, line) in fixture.lines().enumerate() {
            let parsed = parse(Format::Auto, line.as_bytes(), &ParseContext::new(2024))
                .unwrap_or_else(|e| panic!("{name}:{}: {e}", n + 1));
            let event = to_event(&profiles, Arc::from("t"), parsed, Origin::default());
            for rule in engine.matches(&event, &mut scratch) {
                let id = engine.rule(rule).id.clone().unwrap_or_default();
                hits.push(format!("{name}:{} {}", n + 1, &id[id.len() - 4..]));
            }
        }
    }
    assert_eq!(
        hits,
        [
            "auditd:2 a001", // EXECVE iptables -t nat … --to-ports 4321 (hex argument)
            "auditd:6 a003", // SERVICE_STOP unit=firewalld (inside msg='…')
            "auditd:7 a002", // enriched SYSCALL=syslog a0=5
            "cef:1 d001",    // Check Point CEF: act, dpt, suser, CEF.Name
            "json:1 b001",   // kubectl exec
            "json:2 b002",   // hostPath + SYS_ADMIN pod in kube-system
            "json:5 c001",   // Suricata DNS query (EVE v3 `dns.queries`)
        ]
    );
}
