//! Saved hunts.

use super::Case;
use super::basics::sys;
use crate::hunts::NewHunt;
use crate::{Control, ControlError, Principal, Role};

pub(super) fn cases() -> Vec<Case> {
    vec![(
        "saved hunts are shared in a tenant and deleted only by their owner",
        saved_hunts,
    )]
}

fn user(c: &Control, name: &str, tenant: &str, role: Role) -> Principal {
    c.create_user(&sys(), name, "pw", tenant, role, 1).unwrap();
    c.principal_of_user(name).unwrap().unwrap()
}

fn hunt(name: &str, q: &str) -> NewHunt {
    NewHunt {
        name: name.into(),
        query: q.into(),
        from: "-24h".into(),
        to: String::new(),
        tenant: None,
    }
}

fn saved_hunts(c: &Control) {
    c.create_tenant("acme", 1).unwrap();
    c.create_tenant("other", 1).unwrap();
    let ann = user(c, "ann", "acme", Role::Hunter);
    let bob = user(c, "bob", "acme", Role::Hunter);
    let eve = user(c, "eve", "other", Role::Hunter);
    let ingest = user(c, "ing", "acme", Role::Ingest);
    let acme = vec!["acme".to_string()];

    let h = c
        .save_hunt(&ann, &hunt("  mimikatz ", r#"Image:*\mimikatz.exe"#), 10)
        .unwrap();
    assert_eq!(
        (h.tenant.as_str(), h.owner.as_str(), h.name.as_str()),
        ("acme", "ann", "mimikatz")
    );
    assert_eq!(
        (h.query.as_str(), h.from.as_str(), h.to.as_str()),
        (r#"Image:*\mimikatz.exe"#, "-24h", "")
    );
    assert_eq!((h.created_ns, h.updated_ns), (10, 10));

    // The same owner and name replace the query; another owner's name is separate.
    let again = c
        .save_hunt(&ann, &hunt("mimikatz", "CommandLine:*sekurlsa*"), 20)
        .unwrap();
    assert_eq!(again.id, h.id);
    assert_eq!(again.query, "CommandLine:*sekurlsa*");
    assert_eq!((again.created_ns, again.updated_ns), (10, 20));
    let bobs = c.save_hunt(&bob, &hunt("mimikatz", "x"), 30).unwrap();
    assert_ne!(bobs.id, h.id);

    // Shared within the tenant, invisible elsewhere.
    let listed = c.saved_hunts(&bob, &acme).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        c.saved_hunt(&bob, h.id).unwrap().query,
        "CommandLine:*sekurlsa*"
    );
    assert!(c.saved_hunts(&eve, &acme).unwrap().is_empty());
    assert!(matches!(
        c.saved_hunt(&eve, h.id),
        Err(ControlError::NotFound(_))
    ));

    // Validation and permissions.
    assert!(matches!(
        c.save_hunt(&ann, &hunt("  ", "x"), 40),
        Err(ControlError::Invalid(_))
    ));
    assert!(matches!(
        c.save_hunt(&ann, &hunt(&"n".repeat(200), "x"), 40),
        Err(ControlError::Invalid(_))
    ));
    assert!(matches!(
        c.save_hunt(&ingest, &hunt("nope", "x"), 40),
        Err(ControlError::Forbidden(_))
    ));
    let mut elsewhere = hunt("theirs", "x");
    elsewhere.tenant = Some("other".into());
    assert!(matches!(
        c.save_hunt(&ann, &elsewhere, 40),
        Err(ControlError::Forbidden(_))
    ));

    // Only the owner deletes; outsiders do not even see it.
    assert!(matches!(
        c.delete_hunt(&bob, h.id, 50),
        Err(ControlError::Forbidden(_))
    ));
    assert!(matches!(
        c.delete_hunt(&eve, h.id, 50),
        Err(ControlError::NotFound(_))
    ));
    let gone = c.delete_hunt(&ann, h.id, 50).unwrap();
    assert_eq!(gone.id, h.id);
    assert!(matches!(
        c.delete_hunt(&ann, h.id, 60),
        Err(ControlError::NotFound(_))
    ));
    let left: Vec<_> = c
        .saved_hunts(&ann, &acme)
        .unwrap()
        .into_iter()
        .map(|h| h.owner)
        .collect();
    assert_eq!(left, ["bob"]);

    // Every write is in the tenant's audit chain, which still verifies.
    let actions: Vec<String> = c
        .audit_log(&["acme".to_string()], false, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .filter(|a| a.starts_with("hunt."))
        .collect();
    assert_eq!(
        actions,
        ["hunt.delete", "hunt.save", "hunt.save", "hunt.save"]
    );
    let (_, problems) = c.verify_audit().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}
