use std::ops::ControlFlow;
fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let t = std::time::Instant::now();
    let (jobs, errors) = leitstelle_readers::discover(&paths);
    let profiles = leitstelle_profile::ProfileSet::builtin();
    let (mut ev, mut er, mut nots) = (0u64, 0u64, 0u64);
    for job in &jobs {
        let s = leitstelle_readers::read_file(job, &Default::default(), &profiles, &mut |item| {
            match item {
                leitstelle_readers::Item::Event(e) => {
                    if e.timestamp.is_none() {
                        nots += 1
                    }
                }
                leitstelle_readers::Item::Error(e) => println!("ERR {e}"),
            }
            ControlFlow::Continue(())
        });
        ev += s.events;
        er += s.errors;
    }
    println!(
        "files {} discover-errors {} events {ev} errors {er} no-timestamp {nots} in {:?}",
        jobs.len(),
        errors.len(),
        t.elapsed()
    );
    for e in errors {
        println!("DERR {e}");
    }
}
