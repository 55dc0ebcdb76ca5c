//! Helpers shared by the integration tests: a scratch folder per test and a reader that
//! renders what it read as one line per item, for table-driven comparisons.

#![allow(dead_code)]

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use leitstelle_event::Event;
use leitstelle_profile::ProfileSet;
use leitstelle_readers::{FileJob, FileStats, Item, ReadError, ReadOptions, read_file};

/// A fresh, empty folder for one test under Cargo's scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("leitstelle-readers")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
    std::fs::write(&path, content).expect("write fixture");
    path
}

pub fn gzip(content: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(content).expect("gzip");
    enc.finish().expect("gzip")
}

/// Deterministic pseudo-random bytes (xorshift64).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub struct Read {
    pub events: Vec<Event>,
    pub errors: Vec<ReadError>,
    /// One line per item in order: see [`render_event`] and [`render_error`].
    pub lines: Vec<String>,
    pub stats: FileStats,
}

/// Detects and reads one file with the built-in profiles.
pub fn read_path(path: &Path, opts: &ReadOptions) -> Read {
    let job = match FileJob::detect(path) {
        Ok(job) => job,
        Err(e) => {
            return Read {
                events: vec![],
                lines: vec![render_error(&e)],
                errors: vec![e],
                stats: FileStats::default(),
            };
        }
    };
    read_job(&job, opts)
}

pub fn read_job(job: &FileJob, opts: &ReadOptions) -> Read {
    let profiles = ProfileSet::builtin();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    let stats = read_file(job, opts, &profiles, &mut |item| {
        match item {
            Item::Event(e) => {
                lines.push(render_event(&profiles, &e));
                events.push(e);
            }
            Item::Error(e) => {
                lines.push(render_error(&e));
                errors.push(e);
            }
        }
        ControlFlow::Continue(())
    });
    Read {
        events,
        errors,
        lines,
        stats,
    }
}

/// `#<record> <profile> <logsource> <time or -> <raw kind>`
pub fn render_event(profiles: &ProfileSet, e: &Event) -> String {
    let time = e.timestamp.map_or("-".to_string(), |ns| {
        chrono::DateTime::from_timestamp_nanos(ns)
            .format("%Y-%m-%dT%H:%M:%S%.fZ")
            .to_string()
    });
    let raw = match &e.raw {
        leitstelle_event::Raw::Text(_) => "text",
        leitstelle_event::Raw::Bytes(_) => "bytes",
        leitstelle_event::Raw::Tree => "tree",
    };
    format!(
        "#{} {} {} {} {}",
        e.origin.record.map_or("-".to_string(), |r| r.to_string()),
        profiles.get(e.profile).name,
        e.logsource,
        time,
        raw
    )
}

/// The error's message without the folder: `name:line 2: reason`.
pub fn render_error(e: &ReadError) -> String {
    let full = e.to_string();
    let dir = e
        .path
        .parent()
        .map(|p| format!("{}/", p.display()))
        .unwrap_or_default();
    format!("! {}", full.strip_prefix(&dir).unwrap_or(&full))
}
