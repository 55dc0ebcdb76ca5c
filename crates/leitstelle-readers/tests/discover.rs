//! Finding files, telling their type, the error text, and stopping early.

mod common;

use std::ops::ControlFlow;
use std::path::PathBuf;

use common::{gzip, noise, scratch, write};
use leitstelle_profile::ProfileSet;
use leitstelle_readers::{
    Compression, FileJob, FileKind, Item, Location, ReadError, ReadErrorKind, ReadOptions,
    discover, read_file, sniff,
};

#[test]
fn sniff_by_content() {
    let cases: &[(&[u8], FileKind)] = &[
        (b"ElfFile\0rest", FileKind::Evtx),
        (b"\x1f\x8b\x08\0", FileKind::Gzip),
        (b"{\"a\":1}", FileKind::Json),
        (b"\n\t [ {}]", FileKind::Json),
        (b"\xEF\xBB\xBF{\"a\":1}", FileKind::Json),
        (b"Record 1\r\n{\n", FileKind::Json),
        (b"Record 1\nhello", FileKind::Syslog),
        (b"<13>Jan  1 00:00:00 h a: m", FileKind::Syslog),
        (b"plain text, caf\xe9\n", FileKind::Syslog),
        (b"", FileKind::Syslog),
        (b"text\0with nul", FileKind::Unknown),
        (b"\x01\x02\x03\x04\x05\x06abc", FileKind::Unknown),
        (b"ElfFil", FileKind::Syslog),
    ];
    for (head, kind) in cases {
        assert_eq!(sniff(head), *kind, "{:?}", String::from_utf8_lossy(head));
    }
    assert_eq!(sniff(&noise(4096, 5)), FileKind::Unknown);
}

#[test]
fn walks_folders_in_order_and_reports_what_it_cannot_read() {
    let dir = scratch("discover");
    write(&dir, "b/app.log", b"<13>Jan  1 00:00:00 h a: m\n");
    write(&dir, "b/a/events.json", b"{\"a\": 1}\n");
    write(&dir, "c.evtx", b"ElfFile\0");
    write(&dir, "d.json.gz", &gzip(b"[{\"a\": 1}]"));
    write(&dir, "e.gz", &gzip(&gzip(b"x")));
    write(&dir, "f.bin", &noise(1000, 9));
    write(&dir, "g.txt", b"\xFF\xFEh\0i\0");
    write(&dir, "h.zip", b"PK\x03\x04\x14\0\0\0");
    write(&dir, "i.gz", b"\x1f\x8b\x08\0garbage");
    write(&dir, "j.log", b"");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("c.evtx"), dir.join("link.evtx")).expect("symlink");

    let (jobs, errors) = discover(&[dir.clone(), dir.join("c.evtx"), dir.join("missing")]);
    let rel = |p: &PathBuf| {
        p.strip_prefix(&dir)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.display().to_string())
    };
    let jobs: Vec<String> = jobs
        .iter()
        .map(|j| {
            format!(
                "{} {} {:?} {}",
                rel(&j.path),
                j.kind.as_str(),
                j.compression,
                j.size
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            "b/a/events.json json None 9",
            "b/app.log syslog None 27",
            "c.evtx evtx None 8",
            "d.json.gz json Gzip 30",
            "j.log syslog None 0",
        ]
    );
    let errors: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", rel(&e.path), e.kind))
        .collect();
    assert_eq!(errors.len(), 6, "{errors:#?}");
    assert_eq!(errors[0], "e.gz: unsupported: gzip inside gzip");
    assert_eq!(
        errors[1],
        "f.bin: unrecognised file type (not EVTX, gzip, JSON or text)"
    );
    assert_eq!(
        errors[2],
        "g.txt: unsupported: UTF-16 text (convert it to UTF-8)"
    );
    assert_eq!(
        errors[3],
        "h.zip: unsupported: zip archive (extract it first)"
    );
    assert!(
        errors[4].starts_with("i.gz: cannot read: "),
        "{}",
        errors[4]
    );
    assert_eq!(
        errors[5],
        "missing: cannot read: No such file or directory (os error 2)"
    );
}

#[test]
fn read_error_display() {
    let e = ReadError::new(
        "logs/a.json",
        Location::Line(12),
        ReadErrorKind::InvalidJson("expected value at line 1 column 3".into()),
    );
    assert_eq!(
        e.to_string(),
        "logs/a.json:line 12: invalid JSON: expected value at line 1 column 3"
    );
    let e = ReadError::new("x.bin", Location::File, ReadErrorKind::UnknownFormat);
    assert_eq!(
        e.to_string(),
        "x.bin: unrecognised file type (not EVTX, gzip, JSON or text)"
    );
    let e = ReadError::new(
        "s.evtx",
        Location::Record(7),
        ReadErrorKind::Evtx("bad".into()),
    );
    assert_eq!(e.to_string(), "s.evtx:record 7: invalid EVTX: bad");
}

#[test]
fn sink_can_stop_the_reader() {
    let dir = scratch("stop");
    let path = write(&dir, "many.json", "{\"a\": 1}\n".repeat(100).as_bytes());
    let job = FileJob::detect(&path).expect("detect");
    let profiles = ProfileSet::builtin();
    let mut seen = 0;
    let stats = read_file(&job, &ReadOptions::default(), &profiles, &mut |item| {
        assert!(matches!(item, Item::Event(_)));
        seen += 1;
        if seen == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(seen, 3);
    assert_eq!((stats.events, stats.stopped), (3, true));
}

#[test]
fn a_job_built_by_hand_is_detected_again_and_a_vanished_file_is_an_error() {
    let dir = scratch("by-hand");
    let path = write(&dir, "x.gz", &gzip(b"{\"a\": 1}\n"));
    let profiles = ProfileSet::builtin();
    let mut items = Vec::new();
    let job = FileJob {
        path: path.clone(),
        kind: FileKind::Gzip,
        compression: Compression::None,
        size: 0,
    };
    let stats = read_file(&job, &ReadOptions::default(), &profiles, &mut |item| {
        items.push(item);
        ControlFlow::Continue(())
    });
    assert_eq!((stats.events, stats.errors), (1, 0));

    let gone = FileJob {
        path: dir.join("gone.json"),
        kind: FileKind::Json,
        compression: Compression::None,
        size: 0,
    };
    let mut errors = Vec::new();
    let stats = read_file(&gone, &ReadOptions::default(), &profiles, &mut |item| {
        if let Item::Error(e) = item {
            errors.push(e);
        }
        ControlFlow::Continue(())
    });
    assert_eq!((stats.events, stats.errors), (0, 1));
    assert!(matches!(errors[0].kind, ReadErrorKind::Io(_)));
    assert_eq!(errors[0].location, Location::File);
}
