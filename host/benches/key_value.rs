//! The plugins' key-value store (issue 13, F8): the host side of `set`, 10 000 distinct keys
//! written into one namespace of a sled tree on disk (a fresh temp directory per case), each
//! `set` timed on its own. Values of 1 byte and of 64 bytes. Reported per case: the median,
//! p99 and max of a set, the medians of the first and the last 1 000 sets (equal when a set
//! costs the same whatever the namespace holds), and the total. The namespace's byte count is
//! then checked against a scan of the tree.
//!
//! Run with `CARGO_TARGET_DIR=$PWD/target/bench-build nice -n 10 cargo bench -p carbonaut
//! --bench key_value`; the figures are in BENCHMARKS.md. `cargo test --benches` runs 100 sets per case
//! instead.

use std::time::{Duration, Instant};

use carbonaut_runtime::KeyValueStore;

const KEYS: usize = 10_000;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let keys = if full { KEYS } else { 100 };
    println!("load average at start: {}", load_average());
    println!(
        "| value | sets | median | p99 | max | median, first 1 000 | median, last 1 000 | total |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for value_bytes in [1, 64] {
        let dir = tempfile::tempdir().expect("a temp dir");
        let db = sled::open(dir.path()).expect("sled opens");
        let tree = db.open_tree("plugin-kv").expect("the tree");
        let namespace = KeyValueStore::new(tree.clone()).namespace("bench");
        let value = vec![b'x'; value_bytes];
        let mut times = Vec::with_capacity(keys);
        let started = Instant::now();
        for i in 0..keys {
            let key = format!("key-{i:05}");
            let t = Instant::now();
            namespace.set(&key, &value).expect("the set fits");
            times.push(t.elapsed());
        }
        let total = started.elapsed();
        let counted = namespace.used_bytes().expect("the count");
        let scanned: usize = tree
            .scan_prefix(b"bench\0")
            .map(|e| e.expect("an entry"))
            .map(|(k, v)| k.len() - b"bench\0".len() + v.len())
            .sum();
        assert_eq!(counted, scanned, "the count drifted from the tree");
        assert_eq!(scanned, keys * ("key-00000".len() + value_bytes));
        let slice = 1_000.min(keys);
        let first = median(&times[..slice]);
        let last = median(&times[keys - slice..]);
        times.sort();
        println!(
            "| {value_bytes} B | {keys} | {} | {} | {} | {} | {} | {:.1} ms |",
            us(percentile(&times, 0.5)),
            us(percentile(&times, 0.99)),
            us(times[keys - 1]),
            us(first),
            us(last),
            total.as_secs_f64() * 1e3,
        );
    }
    println!("load average at end: {}", load_average());
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    percentile(&sorted, 0.5)
}

/// The `q` quantile of `sorted` (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
