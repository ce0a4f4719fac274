//! Measures the embedded stores side by side: appends one event per commit (each
//! durable), appends in batches of 100, and replays everything in pages, as the gateway
//! does. `cargo xtask bench store` runs it.

use std::time::Instant;

use herald_protocol::CloudEvent;
use herald_server::store::{EventStore, RedbStore, SqliteStore};

const SINGLE: usize = 1_000;
const BATCHES: usize = 200;
const BATCH: usize = 100;

fn event(i: usize) -> CloudEvent {
    CloudEvent::new(format!("e-{i}"), "/bench/sensor", "nop.noise.reading")
        .with_data(serde_json::json!({ "sensor": format!("s-{}", i % 16), "db": 60.0 + (i % 40) as f64, "at": i }))
}

fn measure(name: &str, store: &dyn EventStore) -> [f64; 3] {
    let started = Instant::now();
    for i in 0..SINGLE {
        store.append(vec![event(i)]).expect("append");
    }
    let single = SINGLE as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for b in 0..BATCHES {
        let events = (0..BATCH).map(|i| event(SINGLE + b * BATCH + i)).collect();
        store.append(events).expect("append a batch");
    }
    let batched = (BATCHES * BATCH) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (mut after, mut total) = (0, 0);
    loop {
        let page = store.read(after, 512).expect("read");
        let Some(last) = page.last() else { break };
        after = last.position.seq;
        total += page.len();
    }
    assert_eq!(total, SINGLE + BATCHES * BATCH, "{name} replays every event");
    let replay = total as f64 / started.elapsed().as_secs_f64();
    [single, batched, replay]
}

fn main() {
    let sqlite_dir = tempfile::tempdir().expect("a temporary directory");
    let redb_dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = measure("sqlite", &SqliteStore::open(sqlite_dir.path()).expect("open SQLite"));
    let redb = measure("redb", &RedbStore::open(redb_dir.path()).expect("open redb"));
    println!("| store  | append, 1 per commit (ev/s) | append, 100 per commit (ev/s) | replay (ev/s) |");
    println!("|--------|----------------------------:|------------------------------:|--------------:|");
    for (name, [single, batched, replay]) in [("SQLite", sqlite), ("redb", redb)] {
        println!("| {name:<6} | {single:>27.0} | {batched:>29.0} | {replay:>13.0} |");
    }
    println!(
        "| ratio SQLite/redb | {:.2}x | {:.2}x | {:.2}x |",
        sqlite[0] / redb[0],
        sqlite[1] / redb[1],
        sqlite[2] / redb[2]
    );
}
