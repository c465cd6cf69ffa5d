//! A plugin that attacks its host, one way per `mode` setting, for the hostile-plugin suite:
//! loop, memory-bomb, stack-overflow, panic, huge-result, sleep, read-passwd, read-env,
//! log-flood, http-get (to the `url` setting), kv-count, kv-fill. With mode `ok` it behaves;
//! with `slow` it answers nothing after 2 s (a long, successful collection).

use carbonaut_sdk::{
    Account, Metadata, Plugin, ProviderError, ResourceInfo, ResourceMetrics, ResourceSample,
    Settings, setting,
};

struct Hostile;

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        Metadata::new("hostile", "0.0.1", "Attacks its host on purpose.")
            .setting("mode", "The attack", true)
            .setting("url", "What http-get fetches", false)
            // It asks for everything; the operator's config decides what it gets.
            .needs_http("*")
            .needs_read_only_dir("/data")
            .needs_key_value()
    }
}

// Endless on purpose: the stack overflow is the attack.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let buffer = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + buffer[0]
}

impl ResourceMetrics for Hostile {
    fn collect(
        settings: Settings,
        _: Account,
        _: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        match setting(&settings, "mode").unwrap_or("ok") {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 8 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "stack-overflow" => Ok(vec![sample(&recurse(0).to_string())]),
            "panic" => panic!("hostile guest: deliberate panic"),
            "huge-result" => {
                // 300 samples with 1 MB ids: a 300 MB answer.
                let id = "x".repeat(1 << 20);
                Ok((0..300).map(|_| sample(&id)).collect())
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(Vec::new())
            }
            // Not an attack: a call that succeeds after 2 s, for a collection that lasts.
            "slow" => {
                std::thread::sleep(std::time::Duration::from_secs(2));
                Ok(Vec::new())
            }
            "read-passwd" => {
                let attempts = ["/etc/passwd", "../etc/passwd", "/proc/self/environ", "."];
                let found: Vec<String> = attempts
                    .iter()
                    .map(|p| match std::fs::read(p) {
                        Ok(bytes) => format!("{p}: READ {} bytes", bytes.len()),
                        Err(e) => format!("{p}: {e}"),
                    })
                    .collect();
                Err(ProviderError::Other(found.join("; ")))
            }
            "read-granted" => {
                // The operator granted a folder at /data, read-only.
                let inside = std::fs::read_to_string("/data/reading.txt")
                    .map_err(|e| ProviderError::Other(format!("read: {e}")))?;
                let write = std::fs::write("/data/new.txt", "x")
                    .map_or_else(|e| format!("write refused: {e}"), |_| "WROTE".into());
                let escape = std::fs::read("/data/../outside.txt")
                    .map_or_else(|e| format!("escape refused: {e}"), |_| "ESCAPED".into());
                Err(ProviderError::Other(format!(
                    "read: {}; {write}; {escape}",
                    inside.trim()
                )))
            }
            "read-env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                Err(ProviderError::Other(format!(
                    "{} environment variables: {}",
                    vars.len(),
                    vars.join(",")
                )))
            }
            "http-get" => {
                let url = setting(&settings, "url").unwrap_or("http://127.0.0.1:9/");
                let response = carbonaut_sdk::http::Request::get(url)
                    .header("x-plugin", "hostile")
                    .send()?;
                Err(ProviderError::Other(format!(
                    "status {}: {}",
                    response.status,
                    response.text()?
                )))
            }
            "kv-count" => {
                let count = carbonaut_sdk::kv::get("count")?
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                carbonaut_sdk::kv::set("count", count.to_string().as_bytes())?;
                Err(ProviderError::Other(format!("count {count}")))
            }
            "kv-fill" => {
                let value = vec![b'x'; 60_000];
                for i in 0..1000 {
                    if let Err(e) = carbonaut_sdk::kv::set(&format!("fill-{i}"), &value) {
                        return Err(ProviderError::Other(format!("stopped after {i}: {e:?}")));
                    }
                }
                Err(ProviderError::Other("FILLED 60 MB".into()))
            }
            "log-flood" => {
                for i in 0..1_000_000u32 {
                    carbonaut_sdk::log::info(
                        &format!("flood {i} {}", "y".repeat(10_000)),
                        &[("i", "x")],
                    );
                }
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }
}

fn sample(id: &str) -> ResourceSample {
    ResourceSample {
        components: Vec::new(),
        resource_id: id.to_owned(),
        energy_joules: Some(1.0),
        power_watts: None,
        cpu_frequency_hertz: None,
        cpu_utilization_ratio: None,
        read_at: 0,
        estimated: false,
    }
}

carbonaut_sdk::export!(Hostile: resource_metrics);
