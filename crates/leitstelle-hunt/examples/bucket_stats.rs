//! Which logsource buckets a hunt builds and what their automata hold.
//! `cargo run --release -p leitstelle-hunt --example bucket_stats -- RULES DIR`

use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [rules, dir] = &args[..] else {
        eprintln!("usage: bucket_stats RULES DIR");
        std::process::exit(1);
    };
    let profiles = match leitstelle_hunt::load_profiles(&[]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let set = match leitstelle_hunt::load_rules(std::slice::from_ref(rules), &Default::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let engine = leitstelle_sigma::Engine::compile(set.rules, &profiles);
    let (jobs, _) = leitstelle_readers::discover(std::slice::from_ref(dir));
    let opts = leitstelle_hunt::HuntOptions {
        threads: 1,
        ..Default::default()
    };
    let (found, _) = leitstelle_hunt::run(
        &engine,
        &profiles,
        jobs,
        &opts,
        &leitstelle_hunt::NoProgress,
    );
    let mut total = 0;
    let mut rows: Vec<_> = engine
        .built_buckets()
        .into_iter()
        .map(|ls| (engine.bucket_stats(&ls), ls))
        .collect();
    rows.sort_by_key(|(s, _)| std::cmp::Reverse(s.automata_bytes));
    for (s, ls) in &rows {
        total += s.automata_bytes;
        println!(
            "{:>9} B {:>5} rules {:>6} needles {:>3} fields  {:?}",
            s.automata_bytes, s.rules, s.needles, s.fields_scanned, ls
        );
    }
    println!(
        "{} buckets, {total} B of automata, {} detections",
        rows.len(),
        found.len()
    );
}
