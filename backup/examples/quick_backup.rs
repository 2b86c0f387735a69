//! Takes one backup through the library, for measurements without the `corepool` binary:
//! `quick_backup HOST PORT USER TARGET JOBS [p|t] [gzip|lz4|zstd]`.

use corepool_backup::client::{ConnectOptions, Host};
use corepool_backup::{BackupOptions, Checkpoint, Compression, Format};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!("usage: quick_backup HOST PORT USER TARGET JOBS [p|t] [gzip|lz4|zstd]");
        std::process::exit(2);
    }
    let port = a[2].parse().unwrap_or(5432);
    let mut conn = ConnectOptions::new(Host::parse(&a[1]), port, a[3].clone());
    conn.database = Some("postgres".into());
    let mut o = BackupOptions::new(conn, &a[4]);
    o.jobs = a[5].parse().unwrap_or(1);
    o.checkpoint = Checkpoint::Fast;
    if a.get(6).map(String::as_str) == Some("t") {
        o.format = Format::Tar;
    }
    if let Some(c) = a.get(7) {
        o.compression = Compression::parse(c).unwrap_or(None);
    }
    o.verbose = std::env::var_os("VERBOSE").is_some();
    if let Ok(c) = std::env::var("CHUNK") {
        o.chunk_size = c.parse().unwrap_or(o.chunk_size);
    }
    let t = Instant::now();
    match corepool_backup::run(o, Arc::new(AtomicBool::new(false))) {
        Ok(out) => println!(
            "{:.2} s ({} workers)",
            t.elapsed().as_secs_f64(),
            out.parallel_workers
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
