//! The linux-host plugin against fixture trees that mimic procfs and sysfs
//! (`tests/fixtures/linux-host`), copied to a temporary directory so a test can rewrite
//! counters between calls, and mounted at the guest paths the plugin reads through
//! `Grants.read_only_dirs`, as an operator's `read_only_dirs` would.
//!
//! The fixture machine: 4 logical CPUs (Intel Xeon Gold 6230), MemTotal 16318412 kB; RAPL
//! packages `intel-rapl:0` (1000 J) and `intel-rapl:1` (2500 J), each with a `dram`
//! sub-domain, a `psys` zone (`intel-rapl:2`) and an `intel-rapl-mmio:0` copy of package 0,
//! all wrapping at 262143328850 µJ; `/proc/stat` totals 10000 ticks of which 8500 idle+iowait;
//! cpufreq at 2.1, 2.2, 2.3 and 3.0 GHz, `/proc/cpuinfo` at 1000, 1000, 2000, 2000 MHz.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use carbonaut_model::{
    Account, Hardware, Location, Project, ProviderError, ResourceInfo, ResourceKind, ResourceSample,
};
use carbonaut_plugins::{CallError, CallErrorKind, Plugin, load_file};
use carbonaut_runtime::{Grants, Limits};

use crate::support::*;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/linux-host");
const HOST_ID: &str = "fixture-box";
/// `/proc/stat` 1000 ticks later: +300 user, +100 system, +550 idle, +50 iowait, so
/// utilisation = 1 - (550 + 50) / 1000 = 0.4.
const STAT_LATER: &str = "cpu  1300 0 600 8550 550 0 0 0 0 0\n";

/// Relative equality for figures whose hand arithmetic has decimal fractions that binary
/// floating point rounds (0.74 + 0.15 × 2.76 is not exact in f64).
pub fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0)
}

/// A copy of the fixture tree, a runtime (with a key-value store when asked) and the plugin.
pub struct Machine {
    dir: tempfile::TempDir,
    plugin: Plugin,
    key_value: bool,
}

impl Machine {
    pub async fn new(key_value: bool) -> Machine {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_tree(Path::new(FIXTURE), dir.path());
        let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
        if key_value {
            let db = sled::Config::new().temporary(true).open().expect("sled");
            runtime.enable_key_value(db.open_tree("kv").expect("tree"));
        }
        let plugin = load_file(&Arc::new(runtime), LINUX_HOST.as_ref())
            .await
            .expect("linux-host loads");
        Machine {
            dir,
            plugin,
            key_value,
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.path(relative), text).expect("rewrite a fixture file");
    }

    /// `dirs` maps fixture folders to guest paths.
    pub fn grants(&self, dirs: &[(&str, &str)]) -> Grants {
        Grants {
            read_only_dirs: dirs
                .iter()
                .map(|(host, guest)| (self.path(host), (*guest).to_owned()))
                .collect(),
            key_value: self.key_value.then(|| "host".to_owned()),
            ..Grants::NONE
        }
    }

    /// /proc, /sys/class/powercap and /sys/devices/system/cpu, as on a real machine.
    pub fn everything(&self) -> Grants {
        self.grants(&[
            ("proc", "/proc"),
            ("powercap", "/sys/class/powercap"),
            ("cpu", "/sys/devices/system/cpu"),
        ])
    }

    pub async fn try_sample(
        &self,
        grants: &Grants,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<ResourceSample>, CallError> {
        self.plugin
            .collect_samples(grants, &settings(pairs), &account(), &[resource(HOST_ID)])
            .await
            .map(carbonaut_plugins::Checked::into_items)
    }

    /// The one sample of the fixture machine.
    pub async fn sample(&self, grants: &Grants, pairs: &[(&str, &str)]) -> ResourceSample {
        let mut samples = self.try_sample(grants, pairs).await.expect("a sample");
        assert_eq!(samples.len(), 1, "{samples:?}");
        let sample = samples.remove(0);
        assert_eq!(sample.resource_id, HOST_ID);
        sample
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("fixture dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn account() -> Account {
    Account {
        name: "lab".into(),
        settings: vec![],
    }
}

pub fn resource(id: &str) -> ResourceInfo {
    ResourceInfo {
        id: id.into(),
        name: id.into(),
        kind: ResourceKind::Host,
        location: Location {
            cloud: None,
            grid_zone: None,
            country: None,
            region: None,
            zone: None,
            coordinates: None,
        },
        hardware: Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
            vcpus: None,
            memory_bytes: None,
            cpu_model: None,
        },
        labels: vec![],
    }
}

/// Captures the host's log (where plugin log lines go) for the current thread.
fn capture_log() -> (tracing::subscriber::DefaultGuard, Arc<Mutex<Vec<u8>>>) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || sink.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), buffer)
}

fn count(log: &Arc<Mutex<Vec<u8>>>, needle: &str) -> usize {
    String::from_utf8_lossy(&log.lock().expect("log"))
        .matches(needle)
        .count()
}

#[tokio::test]
async fn discovery_lists_the_fixture_machine() {
    let m = Machine::new(false).await;
    let grants = m.grants(&[("proc", "/proc")]);
    let projects = m
        .plugin
        .list_projects(&grants, &vec![], &account())
        .await
        .expect("projects");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].id, "local");
    let resources = m
        .plugin
        .list_resources(
            &grants,
            &settings(&[("country", "DE")]),
            &account(),
            &projects[0],
        )
        .await
        .expect("resources");
    assert_eq!(resources.len(), 1);
    let r = &resources[0];
    assert_eq!(r.id, "fixture-box", "the hostname is the id");
    assert_eq!(r.name, "fixture-box");
    assert_eq!(r.kind, ResourceKind::Host);
    assert_eq!(r.hardware.vcpus, Some(4), "four `processor` lines");
    // 16318412 kB × 1024 = 16710053888 bytes.
    assert_eq!(r.hardware.memory_bytes, Some(16_710_053_888));
    assert_eq!(
        r.hardware.cpu_model.as_deref(),
        Some("Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz")
    );
    assert_eq!(r.location.country.as_deref(), Some("DE"));
    assert_eq!(
        r.labels,
        vec![("kernel".to_owned(), "6.1.0-fixture-amd64".to_owned())]
    );

    let renamed = m
        .plugin
        .list_resources(
            &grants,
            &settings(&[("resource_id", "rack-7")]),
            &account(),
            &projects[0],
        )
        .await
        .expect("resources");
    assert_eq!(renamed[0].id, "rack-7");
    let other = Project {
        id: "elsewhere".into(),
        name: "elsewhere".into(),
        labels: vec![],
    };
    let none = m
        .plugin
        .list_resources(&grants, &vec![], &account(), &other)
        .await
        .expect("resources");
    assert!(none.is_empty());
}

#[tokio::test]
async fn discovery_without_proc_says_what_to_grant() {
    let m = Machine::new(false).await;
    let error = m
        .plugin
        .list_resources(
            &Grants::NONE,
            &vec![],
            &account(),
            &Project {
                id: "local".into(),
                name: "local".into(),
                labels: vec![],
            },
        )
        .await
        .expect_err("no /proc");
    let CallErrorKind::Guest(ProviderError::BadConfig(message)) = &error.kind else {
        panic!("{error}");
    };
    assert!(
        message.contains("/proc/sys/kernel/hostname does not exist")
            && message.contains(r#"read_only_dirs = { "/proc" = "/proc" }"#),
        "{message}"
    );
}

#[tokio::test]
async fn two_packages_are_summed_without_their_sub_domains_across_calls() {
    let m = Machine::new(true).await;
    let grants = m.everything();

    let first = m.sample(&grants, &[]).await;
    assert!(!first.estimated);
    // Packages only: 1000000000 + 2500000000 µJ = 3500 J. Adding the dram sub-domains
    // (400 J + 700 J), psys (9000 J) or the mmio copy of package 0 (999.999999 J) would show.
    assert_eq!(first.energy_joules, Some(3500.0));
    assert_eq!(first.power_watts, None);
    assert_eq!(first.cpu_utilization_ratio, None, "no previous /proc/stat");
    // cpufreq wins over /proc/cpuinfo: (2100000 + 2200000 + 2300000 + 3000000) kHz / 4 =
    // 2400000 kHz = 2.4e9 Hz.
    assert_eq!(first.cpu_frequency_hertz, Some(2.4e9));

    // Package 0 +60 J, package 1 +30 J; the sub-domains and psys move too but must not count.
    m.write("powercap/intel-rapl:0/energy_uj", "1060000000\n");
    m.write("powercap/intel-rapl:1/energy_uj", "2530000000\n");
    m.write("powercap/intel-rapl:0:0/energy_uj", "450000000\n");
    m.write("powercap/intel-rapl:1:0/energy_uj", "800000000\n");
    m.write("powercap/intel-rapl:2/energy_uj", "9500000000\n");
    m.write("proc/stat", STAT_LATER);
    let second = m.sample(&grants, &[]).await;
    // 3500 J + 60 J + 30 J.
    assert_eq!(second.energy_joules, Some(3590.0));
    assert!(close(
        second.cpu_utilization_ratio.expect("a utilisation"),
        0.4
    ));
    assert!(second.read_at >= first.read_at);

    // A reboot: a new boot id, counters near zero. The total stays where it was (the energy
    // between the last reading and the reboot is unknown) and nothing is compared across it.
    m.write(
        "proc/sys/kernel/random/boot_id",
        "11111111-2222-3333-4444-555555555555\n",
    );
    m.write("powercap/intel-rapl:0/energy_uj", "5000000\n");
    m.write("powercap/intel-rapl:1/energy_uj", "7000000\n");
    m.write("proc/stat", "cpu  10 0 5 80 5 0 0 0 0 0\n");
    let rebooted = m.sample(&grants, &[]).await;
    assert_eq!(rebooted.energy_joules, Some(3590.0));
    assert_eq!(rebooted.cpu_utilization_ratio, None);
    // Then counting resumes: package 0 +1 J → 3591 J.
    m.write("powercap/intel-rapl:0/energy_uj", "6000000\n");
    let resumed = m.sample(&grants, &[]).await;
    assert_eq!(resumed.energy_joules, Some(3591.0));
}

#[tokio::test]
async fn a_wrap_between_two_samples_is_unwrapped_at_max_energy_range() {
    let m = Machine::new(true).await;
    let grants = m.everything();
    m.write("powercap/intel-rapl:0/energy_uj", "262100000000\n");
    let before = m.sample(&grants, &[]).await;
    // 262100000000 + 2500000000 µJ = 264600 J.
    assert_eq!(before.energy_joules, Some(264_600.0));

    // Package 0 wraps: 262143328850 - 262100000000 + 56671150 = 43328850 + 56671150
    // = 100000000 µJ = 100 J. Package 1: 2550000000 - 2500000000 µJ = 50 J.
    m.write("powercap/intel-rapl:0/energy_uj", "56671150\n");
    m.write("powercap/intel-rapl:1/energy_uj", "2550000000\n");
    let after = m.sample(&grants, &[]).await;
    // 264600 + 100 + 50 = 264750 J: still growing.
    assert_eq!(after.energy_joules, Some(264_750.0));
}

#[tokio::test]
async fn without_the_store_the_raw_sum_is_reported_and_the_plugin_says_so() {
    let (_guard, log) = capture_log();
    let m = Machine::new(false).await;
    let grants = m.everything();
    m.write("powercap/intel-rapl:0/energy_uj", "262100000000\n");
    let before = m.sample(&grants, &[]).await;
    assert_eq!(before.energy_joules, Some(264_600.0));
    m.write("powercap/intel-rapl:0/energy_uj", "56671150\n");
    m.write("powercap/intel-rapl:1/energy_uj", "2550000000\n");
    m.write("proc/stat", STAT_LATER);
    let after = m.sample(&grants, &[]).await;
    // The raw sum, which dropped at the wrap: 56671150 + 2550000000 = 2606671150 µJ. The host
    // counts it as a reset.
    assert_eq!(after.energy_joules, Some(2606.67115));
    assert!(!after.estimated);
    assert_eq!(
        after.cpu_utilization_ratio, None,
        "no previous totals without the store"
    );
    assert_eq!(
        count(&log, "the key-value store is not granted"),
        2,
        "once per call: nothing can be remembered"
    );
}

#[tokio::test]
async fn a_missing_powercap_tree_means_an_estimate_from_utilisation() {
    let (_guard, log) = capture_log();
    let m = Machine::new(true).await;
    // No powercap (a VM, CI) and no cpufreq either.
    let grants = m.grants(&[("proc", "/proc")]);
    let first = m.sample(&grants, &[]).await;
    assert!(first.estimated);
    assert_eq!(first.energy_joules, None);
    assert_eq!(first.cpu_utilization_ratio, None);
    // First call: the average since boot, 1 - 8500/10000 = 0.15;
    // 4 vCPUs × (0.74 + 0.15 × (3.5 - 0.74)) W × PUE 1.0 = 4 × 1.154 = 4.616 W.
    assert!(close(first.power_watts.expect("power"), 4.616), "{first:?}");
    // No cpufreq: the mean of cpuinfo's `cpu MHz`, (1000 + 1000 + 2000 + 2000) / 4 MHz.
    assert_eq!(first.cpu_frequency_hertz, Some(1.5e9));

    m.write("proc/stat", STAT_LATER);
    let second = m
        .sample(
            &grants,
            &[
                ("min_watts_per_vcpu", "1"),
                ("max_watts_per_vcpu", "4"),
                ("pue", "1.2"),
            ],
        )
        .await;
    assert!(second.estimated);
    assert!(close(second.cpu_utilization_ratio.expect("util"), 0.4));
    // 4 × (1 + 0.4 × (4 - 1)) × 1.2 = 4 × 2.2 × 1.2 = 10.56 W.
    assert!(
        close(second.power_watts.expect("power"), 10.56),
        "{second:?}"
    );
    assert_eq!(
        count(&log, "no readable RAPL meter"),
        1,
        "said once, then remembered in the store"
    );
    assert_eq!(
        count(&log, "no RAPL package domain under /sys/class/powercap"),
        1
    );
}

#[tokio::test]
async fn an_unreadable_energy_counter_means_an_estimate() {
    // The tests may run as root (CI containers), where `chmod 000` does not stop a read; a
    // directory in place of the file fails to read for every user, like a permission error.
    let m = Machine::new(true).await;
    let grants = m.everything();
    let counter = m.path("powercap/intel-rapl:1/energy_uj");
    std::fs::remove_file(&counter).expect("rm");
    std::fs::create_dir(&counter).expect("mkdir");
    let sample = m.sample(&grants, &[]).await;
    assert!(
        sample.estimated,
        "one package unreadable: the sum would be short"
    );
    assert_eq!(sample.energy_joules, None);
    // The same as with no powercap: 4 × (0.74 + 0.15 × 2.76) = 4.616 W.
    assert!(close(sample.power_watts.expect("power"), 4.616));

    // Not a number: also no meter.
    std::fs::remove_dir(&counter).expect("rmdir");
    m.write("powercap/intel-rapl:1/energy_uj", "n/a\n");
    let sample = m.sample(&grants, &[]).await;
    assert!(sample.estimated);
    assert_eq!(sample.energy_joules, None);
    assert!(sample.power_watts.is_some());
}

#[tokio::test]
async fn force_estimate_estimates_where_rapl_is_readable() {
    let m = Machine::new(true).await;
    let sample = m
        .sample(
            &m.everything(),
            &[("force_estimate", "true"), ("pue", "1.5")],
        )
        .await;
    assert!(sample.estimated);
    assert_eq!(sample.energy_joules, None);
    // 4 × 1.154 × 1.5 = 6.924 W.
    assert!(close(sample.power_watts.expect("power"), 6.924));
}

/// On a real machine `/sys/class/powercap` holds symlinks into
/// `/sys/devices/virtual/powercap/intel-rapl/`, which a granted directory cannot follow out of
/// itself; the plugin then reads the zones where the links point, nested in their control type.
#[tokio::test]
async fn the_real_symlinked_layout_is_read_through_the_devices_tree() {
    let m = Machine::new(true).await;
    let devices = m.path("sys/devices/virtual/powercap/intel-rapl");
    let class = m.path("sys/class/powercap");
    std::fs::create_dir_all(&devices).expect("mkdir");
    std::fs::create_dir_all(&class).expect("mkdir");
    for package in ["0", "1"] {
        let zone = format!("intel-rapl:{package}");
        let sub = format!("intel-rapl:{package}:0");
        copy_tree(&m.path(&format!("powercap/{zone}")), &devices.join(&zone));
        copy_tree(
            &m.path(&format!("powercap/{sub}")),
            &devices.join(&zone).join(&sub),
        );
        std::os::unix::fs::symlink(
            format!("../../devices/virtual/powercap/intel-rapl/{zone}"),
            class.join(&zone),
        )
        .expect("symlink");
        std::os::unix::fs::symlink(
            format!("../../devices/virtual/powercap/intel-rapl/{zone}/{sub}"),
            class.join(&sub),
        )
        .expect("symlink");
    }
    std::os::unix::fs::symlink(
        "../../devices/virtual/powercap/intel-rapl",
        class.join("intel-rapl"),
    )
    .expect("symlink");

    // Only the class directory: its links lead outside the grant, so there is no meter.
    let class_only = m.grants(&[
        ("proc", "/proc"),
        ("sys/class/powercap", "/sys/class/powercap"),
    ]);
    let sample = m.sample(&class_only, &[]).await;
    assert!(sample.estimated, "{sample:?}");

    let both = m.grants(&[
        ("proc", "/proc"),
        ("sys/class/powercap", "/sys/class/powercap"),
        (
            "sys/devices/virtual/powercap",
            "/sys/devices/virtual/powercap",
        ),
    ]);
    let sample = m.sample(&both, &[]).await;
    assert!(!sample.estimated);
    // 1000 J + 2500 J, the nested dram zones left out.
    assert_eq!(sample.energy_joules, Some(3500.0));
}

#[tokio::test]
async fn only_this_machine_is_measured_and_bad_settings_are_refused() {
    let m = Machine::new(true).await;
    let grants = m.everything();
    let other = m
        .plugin
        .collect_samples(&grants, &vec![], &account(), &[resource("someone-else")])
        .await
        .expect("no error");
    assert!(other.is_empty(), "{other:?}");

    for (key, value, expected) in [
        ("pue", "0.9", "setting `pue` must be at least 1"),
        (
            "min_watts_per_vcpu",
            "-1",
            "setting `min_watts_per_vcpu` must be a number",
        ),
        ("max_watts_per_vcpu", "0.5", "is below `min_watts_per_vcpu`"),
        (
            "force_estimate",
            "yes",
            "setting `force_estimate` must be true or false",
        ),
    ] {
        let error = m
            .try_sample(&grants, &[(key, value)])
            .await
            .expect_err("a bad setting");
        let CallErrorKind::Guest(ProviderError::BadConfig(message)) = &error.kind else {
            panic!("{error}");
        };
        assert!(message.contains(expected), "{message}");
    }
}

/// The machine running the tests, through the same grants as `examples/linux-host.toml`
/// (offered `/proc` and `/sys`, narrowed to what the plugin asks for): real procfs files report
/// a size of 0 and must still be read whole. Whether RAPL is readable here depends on the
/// machine, so either answer is accepted, but it must be a complete one.
#[tokio::test]
async fn the_real_machine_gives_a_measured_or_an_estimated_sample() {
    let m = Machine::new(true).await;
    let offered = carbonaut_plugins::Offered {
        read_only_dirs: vec![
            (PathBuf::from("/proc"), "/proc".to_owned()),
            (PathBuf::from("/sys"), "/sys".to_owned()),
        ],
        http: vec![],
        key_value: true,
    };
    let needs =
        carbonaut_plugins::Needs::parse(&m.plugin.metadata().await.expect("metadata").needs)
            .expect("needs");
    let (grants, _) = needs.grant(&offered, "host");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let projects = m
        .plugin
        .list_projects(&grants, &vec![], &account())
        .await
        .expect("projects");
    let resources = m
        .plugin
        .list_resources(&grants, &vec![], &account(), &projects[0])
        .await
        .expect("resources");
    assert_eq!(resources[0].id, hostname.trim());
    assert!(resources[0].hardware.vcpus.is_some_and(|n| n > 0));
    assert!(resources[0].hardware.memory_bytes.is_some_and(|b| b > 0));

    let (no_settings, lab) = (vec![], account());
    let call = || {
        m.plugin
            .collect_samples(&grants, &no_settings, &lab, &resources)
    };
    let first = call().await.expect("a sample");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = call().await.expect("a sample");
    let (first, second) = (&first[0], &second[0]);
    // What this machine shows, for `--nocapture`.
    eprintln!("this machine: {second:?}");
    assert_eq!(first.estimated, second.estimated);
    if second.estimated {
        assert!(second.power_watts.is_some_and(|w| w > 0.0), "{second:?}");
    } else {
        let (a, b) = (first.energy_joules, second.energy_joules);
        assert!(
            a.zip(b).is_some_and(|(a, b)| b >= a),
            "{first:?} {second:?}"
        );
    }
    // 50 ms is 5 ticks of USER_HZ = 100: enough for /proc/stat to move on most kernels, but a
    // utilisation is only asserted when there is one.
    if let Some(u) = second.cpu_utilization_ratio {
        assert!((0.0..=1.0).contains(&u), "{u}");
    }
}
