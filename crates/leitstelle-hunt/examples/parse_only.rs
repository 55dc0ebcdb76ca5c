//! Baseline for the hunt benchmark: parse every record of the `.evtx` files below a folder
//! to a JSON tree with the `evtx` crate, in-process, on one thread, and print the time per
//! record. `cargo run --release -p leitstelle-hunt --example parse_only -- DIR`

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: parse_only DIR");
        std::process::exit(1);
    };
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "evtx"))
        .map(|e| e.path().to_path_buf())
        .collect();
    files.sort();
    let started = Instant::now();
    let (mut records, mut errors, mut bytes) = (0u64, 0u64, 0usize);
    for f in &files {
        let Ok(mut parser) = evtx::EvtxParser::from_path(f) else {
            errors += 1;
            continue;
        };
        for r in parser.records_json_value() {
            match r {
                Ok(r) => {
                    records += 1;
                    // Touch the tree so the work cannot be skipped.
                    bytes += r.data.as_object().map_or(0, |o| o.len());
                }
                Err(_) => errors += 1,
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "parse-only: {} files, {records} records, {errors} errors, {secs:.3} s, {:.2} µs/record (checksum {bytes})",
        files.len(),
        secs * 1e6 / records.max(1) as f64
    );
}
