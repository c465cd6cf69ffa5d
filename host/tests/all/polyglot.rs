//! Plugins in other languages: the Python (componentize-py) and JavaScript (componentize-js)
//! example providers, built by `examples/build-polyglot.sh`, loaded and called exactly like
//! Rust plugins: same inspection, same limits, same compile cache. Also the WIT version rule
//! on real components. A missing build fails with the command to run, never skips.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonaut_model::{
    Account, Location, LocationQuery, Project, ProviderError, ProviderKind, ResourceKind,
};
use carbonaut_plugins::{CallError, CallErrorKind, LoadError, Plugin, load_bytes, load_file};
use carbonaut_runtime::{CacheState, Grants, Limits};

use crate::support::*;

/// Where `examples/build-polyglot.sh` puts its output: `$CARBONAUT_POLYGLOT_DIR`, else
/// `polyglot/` in the target directory this test was built in.
pub fn polyglot_dir() -> PathBuf {
    match std::env::var_os("CARBONAUT_POLYGLOT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(MOCK_CLOUD)
            .ancestors()
            .nth(2)
            .expect("the target directory")
            .join("polyglot"),
    }
}

/// A file the build script makes; a missing one fails the test with what to run.
pub fn built(name: &str) -> PathBuf {
    let dir = polyglot_dir();
    let path = dir.join(name);
    let command = match std::env::var_os("CARBONAUT_POLYGLOT_DIR") {
        Some(_) => format!("CARBONAUT_POLYGLOT_DIR={}", dir.display()),
        None => format!(
            "CARGO_TARGET_DIR={}",
            dir.parent()
                .map_or_else(String::new, |p| p.display().to_string())
        ),
    };
    assert!(
        path.exists(),
        "{} is missing: run `{command} examples/build-polyglot.sh` first (it installs pinned \
         componentize-py and componentize-js from PyPI and npm, and builds the Python and \
         JavaScript examples; .ci/run does it before `cargo test`)",
        path.display(),
    );
    path
}

/// Serialises loads so that two tests never compile the same 13-19 MB guest at once.
static LOADING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Loads a built guest through a compile cache shared by these tests (in the polyglot
/// folder): only the first load after a build compiles.
async fn load(name: &str) -> Plugin {
    let path = built(name);
    let _one_at_a_time = LOADING.lock().await;
    let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    runtime
        .enable_cache(polyglot_dir().join("test-cache"))
        .expect("the cache directory");
    load_file(&Arc::new(runtime), &path)
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

fn query(id: &str, country: Option<&str>, grid_zone: Option<&str>) -> LocationQuery {
    LocationQuery {
        id: id.into(),
        location: Location {
            cloud: None,
            grid_zone: None,
            country: country.map(Into::into),
            region: None,
            zone: None,
            coordinates: None,
        },
        grid_zone: grid_zone.map(Into::into),
    }
}

/// The yearly figure and the year for `code` in the table python-grid ships.
fn grid_row(code: &str) -> (f64, i32) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-grid/grid.json");
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("grid.json")).expect("JSON");
    let row = &table[code];
    (
        row["gco2_per_kwh"].as_f64().expect("a figure"),
        row["year"].as_i64().expect("a year") as i32,
    )
}

fn start_of_year_ms(year: i32) -> u64 {
    let days: i64 = (1970..year)
        .map(|y| {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                366
            } else {
                365
            }
        })
        .sum();
    days as u64 * 86_400_000
}

fn bad_config(result: Result<impl std::fmt::Debug, CallError>) -> String {
    match result {
        Err(CallError {
            kind: CallErrorKind::Guest(ProviderError::BadConfig(message)),
            ..
        }) => message,
        other => panic!("expected a bad-config guest error, got {other:?}"),
    }
}

#[tokio::test]
async fn python_grid_is_inspected_like_a_rust_plugin() {
    let plugin = load("python-grid.wasm").await;
    let info = plugin.info();
    assert_eq!(info.name, "python-grid");
    assert_eq!(info.version, "0.1.0");
    assert_eq!(info.wit_version.to_string(), "0.2.0");
    assert_eq!(info.kinds, vec![ProviderKind::Environment]);
    let keys: Vec<&str> = info.settings.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["fallback_country", "overrides"]);
    assert!(info.needs.http.is_empty() && !info.needs.key_value);
    assert!(
        info.size_bytes > 10_000_000,
        "a CPython guest: {}",
        info.size_bytes
    );
}

#[tokio::test]
async fn python_grid_answers_from_its_table() {
    let plugin = load("python-grid.wasm").await;
    let queries = [
        query("by-country", Some("DE"), None),
        // The operator's grid zone wins over the resource's country.
        query("by-zone", Some("DE"), Some("FR")),
        query("lower-case", Some("se"), None),
        query("unknown", Some("ZZ"), None),
        query("nowhere", None, None),
    ];
    let mixes = plugin
        .collect_energy_mix(&Grants::NONE, &vec![], &queries)
        .await
        .expect("mixes");
    let ids: Vec<&str> = mixes.iter().map(|m| m.location_id.as_str()).collect();
    assert_eq!(
        ids,
        ["by-country", "by-zone", "lower-case"],
        "unknown places are left out"
    );
    for (mix, code) in mixes.iter().zip(["DE", "FR", "SE"]) {
        let (grams, year) = grid_row(code);
        assert_eq!(mix.carbon_intensity, grams, "{code}");
        assert_eq!(mix.valid_at, start_of_year_ms(year), "{code}");
        assert!(mix.estimated);
        assert!(mix.shares.is_empty());
    }

    // Settings: a fallback for locations without a country, and the operator's own figures.
    let chosen = settings(&[("fallback_country", "pl"), ("overrides", "DE=300, FR=52.5")]);
    let mixes = plugin
        .collect_energy_mix(&Grants::NONE, &chosen, &queries)
        .await
        .expect("mixes");
    let got: Vec<(&str, f64)> = mixes
        .iter()
        .map(|m| (m.location_id.as_str(), m.carbon_intensity))
        .collect();
    assert_eq!(
        got,
        [
            ("by-country", 300.0),
            ("by-zone", 52.5),
            ("lower-case", grid_row("SE").0),
            ("nowhere", grid_row("PL").0),
        ]
    );

    // Bad settings are the operator's to fix: bad-config, wrapped with name and version.
    let message = bad_config(
        plugin
            .collect_energy_mix(
                &Grants::NONE,
                &settings(&[("overrides", "DE:300")]),
                &queries,
            )
            .await,
    );
    assert!(message.contains("`overrides`"), "{message}");
    let err = plugin
        .collect_energy_mix(
            &Grants::NONE,
            &settings(&[("fallback_country", "XX")]),
            &queries,
        )
        .await
        .expect_err("an unknown fallback");
    assert!(
        err.to_string().starts_with(
            "plugin python-grid 0.1.0: environment.collect returned an error: bad configuration:"
        ),
        "{err}"
    );
}

const INVENTORY: &str = r#"{
  "rack-b": [{"name": "db-1", "kind": "bare-metal", "country": "FR", "region": "par-1",
              "vcpus": 32, "memory_gib": 256, "cpu_model": "EPYC 9354", "labels": {"tier": 1}}],
  "rack-a": [{"name": "web-1", "country": "DE"}, {"name": "web-2", "kind": "vm", "zone": "z1"}]
}"#;

fn account(name: &str, pairs: &[(&str, &str)]) -> Account {
    Account {
        name: name.into(),
        settings: settings(pairs),
    }
}

#[tokio::test]
async fn js_inventory_is_inspected_like_a_rust_plugin() {
    let plugin = load("js-inventory.wasm").await;
    let info = plugin.info();
    assert_eq!(info.name, "js-inventory");
    assert_eq!(info.version, "0.1.0");
    assert_eq!(info.wit_version.to_string(), "0.2.0");
    assert_eq!(info.kinds, vec![ProviderKind::Discovery]);
    assert_eq!(info.settings.len(), 1);
    assert_eq!(info.settings[0].key, "inventory");
    assert!(info.settings[0].required);
}

#[tokio::test]
async fn js_inventory_lists_what_its_settings_describe() {
    let plugin = load("js-inventory.wasm").await;
    let provider = settings(&[("inventory", INVENTORY)]);
    let site = account("site", &[]);
    let projects = plugin
        .list_projects(&Grants::NONE, &provider, &site)
        .await
        .expect("projects");
    let ids: Vec<&str> = projects.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["rack-a", "rack-b"]);
    assert_eq!(projects[0].labels, settings(&[("source", "js-inventory")]));

    let db = plugin
        .list_resources(&Grants::NONE, &provider, &site, &projects[1])
        .await
        .expect("resources");
    assert_eq!(db.len(), 1);
    let db = &db[0];
    assert_eq!((db.id.as_str(), db.name.as_str()), ("rack-b/db-1", "db-1"));
    assert_eq!(db.kind, ResourceKind::BareMetal);
    assert_eq!(db.location.country.as_deref(), Some("FR"));
    assert_eq!(db.location.region.as_deref(), Some("par-1"));
    assert_eq!(db.hardware.vcpus, Some(32));
    assert_eq!(db.hardware.memory_bytes, Some(256 << 30));
    assert_eq!(db.hardware.cpu_model.as_deref(), Some("EPYC 9354"));
    assert_eq!(db.labels, settings(&[("tier", "1")]));

    let web = plugin
        .list_resources(&Grants::NONE, &provider, &site, &projects[0])
        .await
        .expect("resources");
    let kinds: Vec<_> = web.iter().map(|r| (r.id.as_str(), r.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("rack-a/web-1", ResourceKind::Host),
            ("rack-a/web-2", ResourceKind::Vm)
        ]
    );
    assert_eq!(web[1].location.zone.as_deref(), Some("z1"));
    assert_eq!(web[1].location.country, None);
    assert_eq!(web[1].hardware.memory_bytes, None);

    // A project that went away has no resources.
    let gone = Project {
        id: "rack-z".into(),
        name: "rack-z".into(),
        labels: vec![],
    };
    let none = plugin
        .list_resources(&Grants::NONE, &provider, &site, &gone)
        .await
        .expect("resources");
    assert!(none.is_empty());

    // The account's own inventory wins over the provider's.
    let lab = account("lab", &[("inventory", r#"{"bench": [{"name": "pi-1"}]}"#)]);
    let projects = plugin
        .list_projects(&Grants::NONE, &provider, &lab)
        .await
        .expect("projects");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].id, "bench");
}

#[tokio::test]
async fn js_inventory_reports_bad_settings_as_bad_config() {
    let plugin = load("js-inventory.wasm").await;
    let site = account("site", &[]);
    let message = bad_config(plugin.list_projects(&Grants::NONE, &vec![], &site).await);
    assert_eq!(message, "setting `inventory` is missing for account `site`");
    let message = bad_config(
        plugin
            .list_projects(&Grants::NONE, &settings(&[("inventory", "{oops")]), &site)
            .await,
    );
    assert!(
        message.starts_with("setting `inventory` is not valid JSON"),
        "{message}"
    );
    let message = bad_config(
        plugin
            .list_projects(
                &Grants::NONE,
                &settings(&[("inventory", r#"{"a": [{"name": "x", "kind": "toaster"}]}"#)]),
                &site,
            )
            .await,
    );
    assert!(message.contains("kind `toaster`"), "{message}");
}

#[tokio::test]
async fn the_same_limits_hold_for_python_and_javascript_guests() {
    // Memory: a limit below what the guest grows to in a normal call stops it.
    let python = load("python-grid.wasm").await;
    let one = [query("de", Some("DE"), None)];
    python
        .collect_energy_mix(&Grants::NONE, &vec![], &one)
        .await
        .expect("a normal call");
    let peak = python.peak_memory_bytes() as usize;
    assert!(peak > 1 << 20, "CPython's heap: {peak} bytes");
    let small = Grants {
        limits: Some(Limits {
            memory_bytes: peak / 2,
            ..Limits::default()
        }),
        ..Grants::NONE
    };
    let err = python
        .collect_energy_mix(&small, &vec![], &one)
        .await
        .expect_err("over the memory limit");
    assert_eq!(err.reason(), "memory", "{err}");
    assert!(err.to_string().contains("ran out of memory"), "{err}");

    // Result size: three machines where one call may return two.
    let js = load("js-inventory.wasm").await;
    let two = Grants {
        limits: Some(Limits {
            max_result_items: 2,
            ..Limits::default()
        }),
        ..Grants::NONE
    };
    let inventory = settings(&[(
        "inventory",
        r#"{"p": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}"#,
    )]);
    let project = Project {
        id: "p".into(),
        name: "p".into(),
        labels: vec![],
    };
    let err = js
        .list_resources(&two, &inventory, &account("site", &[]), &project)
        .await
        .expect_err("over the result limit");
    assert_eq!(err.reason(), "result-size", "{err}");

    // Deadline: 1 ms rounds up to one epoch tick (10 ms); instantiating the JS engine and
    // parsing and returning 50 000 machines takes the interpreted guest far longer than that,
    // so the call is stopped however fast the machine.
    let instant = Grants {
        limits: Some(Limits {
            call_deadline: std::time::Duration::from_millis(1),
            ..Limits::default()
        }),
        ..Grants::NONE
    };
    let big: String = (0..50_000)
        .map(|i| format!(r#"{{"name": "m{i}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let err = js
        .list_resources(
            &instant,
            &settings(&[("inventory", &format!(r#"{{"p": [{big}]}}"#))]),
            &account("site", &[]),
            &project,
        )
        .await
        .expect_err("past the deadline");
    assert_eq!(err.reason(), "deadline", "{err}");
}

/// Loads `name` twice through a fresh cache: the first load compiles, the second finds it
/// precompiled, and the precompiled plugin answers.
async fn compiled_then_hit(name: &str) -> Plugin {
    let path = built(name);
    let cache = tempfile::tempdir().expect("temp dir");
    let _one_at_a_time = LOADING.lock().await;
    let mut states = Vec::new();
    let mut last = None;
    for _ in 0..2 {
        let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
        runtime
            .enable_cache(cache.path().to_path_buf())
            .expect("the cache directory");
        let plugin = load_file(&Arc::new(runtime), &path)
            .await
            .unwrap_or_else(|e| panic!("{name} loads: {e}"));
        states.push(plugin.info().cache);
        last = Some(plugin);
    }
    assert_eq!(states, [CacheState::Compiled, CacheState::Hit], "{name}");
    last.expect("loaded twice")
}

#[tokio::test]
async fn a_restart_loads_python_and_javascript_guests_precompiled() {
    let python = compiled_then_hit("python-grid.wasm").await;
    let mixes = python
        .collect_energy_mix(&Grants::NONE, &vec![], &[query("de", Some("DE"), None)])
        .await
        .expect("mixes");
    assert_eq!(mixes[0].carbon_intensity, grid_row("DE").0);

    let js = compiled_then_hit("js-inventory.wasm").await;
    let projects = js
        .list_projects(
            &Grants::NONE,
            &settings(&[("inventory", INVENTORY)]),
            &account("site", &[]),
        )
        .await
        .expect("projects");
    assert_eq!(projects.len(), 2);
}

/// `component` with every `carbonaut:provider` name moved from 0.3.0 to `version` (same
/// length): what building the same code against that WIT package version produces in the
/// names the host reads.
fn rebuilt_for(component: &[u8], version: &str) -> Vec<u8> {
    assert_eq!(version.len(), "0.3.0".len());
    let mut bytes = component.to_vec();
    let mut replaced = 0;
    for name in [
        "types",
        "log",
        "key-value",
        "metadata",
        "discovery",
        "resource-metrics",
        "environment",
        "estimation",
    ] {
        let from = format!("carbonaut:provider/{name}@0.3.0");
        let to = format!("carbonaut:provider/{name}@{version}");
        let mut at = 0;
        while let Some(pos) = bytes[at..]
            .windows(from.len())
            .position(|w| w == from.as_bytes())
        {
            let start = at + pos;
            bytes[start..start + from.len()].copy_from_slice(to.as_bytes());
            at = start + from.len();
            replaced += 1;
        }
    }
    assert!(replaced > 0, "no carbonaut:provider names in the component");
    bytes
}

#[tokio::test]
async fn a_plugin_built_for_another_wit_version_is_refused_naming_both() {
    let original = std::fs::read(MOCK_GRID).expect("mock-grid");
    let runtime = runtime();
    // The rewrite alone changes nothing the host cares about: 0.3.0 still loads.
    let same = load_bytes(&runtime, "same.wasm", rebuilt_for(&original, "0.3.0"))
        .await
        .expect("0.3.0 loads");
    assert_eq!(same.info().wit_version.to_string(), "0.3.0");

    // Outside the supported series (0.1, 0.2 and 0.3), or a newer patch than this host knows.
    for version in ["0.4.0", "1.0.0", "0.3.9", "0.1.5", "0.0.1"] {
        let err = load_bytes(&runtime, "other.wasm", rebuilt_for(&original, version))
            .await
            .err()
            .unwrap_or_else(|| panic!("a {version} plugin must be refused"));
        assert!(
            matches!(err, LoadError::UnsupportedWitVersion { .. }),
            "{version}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("built for WIT carbonaut:provider@{version}")),
            "{text}"
        );
        assert!(
            text.contains("this host supports carbonaut:provider 0.1, 0.2, 0.3; "),
            "{text}"
        );
        // What to do: a newer plugin needs a newer carbonaut; any can be rebuilt.
        assert!(text.contains("rebuild it with carbonaut-sdk"), "{text}");
        assert_eq!(
            text.contains("upgrade carbonaut"),
            ["0.4.0", "1.0.0", "0.3.9"].contains(&version),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_plugin_folder_mixing_languages_loads_as_one_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (from, to) in [
        (built("python-grid.wasm"), "python-grid.wasm"),
        (built("js-inventory.wasm"), "js-inventory.wasm"),
        (PathBuf::from(MOCK_METER), "mock-meter.wasm"),
    ] {
        std::fs::copy(&from, dir.path().join(to)).expect("copy a plugin");
    }
    let _one_at_a_time = LOADING.lock().await;
    let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    runtime
        .enable_cache(polyglot_dir().join("test-cache"))
        .expect("the cache directory");
    // What a start or a reload of the plugin folder does.
    let loaded = carbonaut_plugins::load_dir(&Arc::new(runtime), dir.path())
        .await
        .expect("read the folder");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let mut seen: Vec<(String, Vec<ProviderKind>)> = loaded
        .plugins
        .iter()
        .map(|p| (p.info().name.clone(), p.info().kinds.clone()))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("js-inventory".to_owned(), vec![ProviderKind::Discovery]),
            ("mock-meter".to_owned(), vec![ProviderKind::ResourceMetrics]),
            ("python-grid".to_owned(), vec![ProviderKind::Environment]),
        ]
    );
}

/// What lets a host at a later 0.3.y accept plugins built for 0.3.0: the version policy in
/// `plugins::inspect` (same 0.minor, not newer than the host; unit-tested there) plus
/// wasmtime's semver-aware names, checked here on a real component that imports `log` and
/// `key-value`. With names saying 0.3.9 (a patch apart from the host's 0.3.0, the other way
/// round from a newer host and an older plugin), its imports link to the host's definitions
/// and the host's bindings find its exports; with 0.4.0, neither.
#[tokio::test]
async fn exports_and_imports_resolve_across_patch_versions_only() {
    // Bindings generated by the tests themselves: this checks wasmtime's name resolution,
    // not the host's calls.
    use crate::support::bare_wit::{metadata, resource_metrics};
    use wasmtime::component::Component;

    let original = std::fs::read(env!("CARBONAUT_GUEST_HOSTILE")).expect("hostile");
    let runtime = runtime();
    let resolve = |version: &str| {
        let bytes = rebuilt_for(&original, version);
        let component = Component::from_binary(runtime.engine(), &bytes).expect("still valid");
        let pre = runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| format!("{e:#}"))?;
        Ok::<_, String>((
            metadata::GuestIndices::new(&pre).is_ok(),
            resource_metrics::GuestIndices::new(&pre).is_ok(),
        ))
    };
    assert_eq!(
        resolve("0.3.9"),
        Ok((true, true)),
        "a patch apart: compatible"
    );
    let refused = resolve("0.4.0").expect_err("a 0.minor apart: not linked");
    assert!(refused.contains("carbonaut:provider/"), "{refused}");
}
