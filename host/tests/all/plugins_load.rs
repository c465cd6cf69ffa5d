//! Loading plugins, calling them through the host, and refusing what is not a plugin.

use std::time::Duration;

use carbonaut_model::{Account, Location, LocationQuery, ProviderError, ProviderKind};
use carbonaut_plugins::{CallErrorKind, LoadError, load_bytes, load_dir, load_file};
use carbonaut_runtime::{Grants, Limits};

use crate::support::*;

fn account(name: &str) -> Account {
    Account {
        name: name.into(),
        settings: vec![],
    }
}

#[tokio::test]
async fn shipped_plugins_load_from_their_folder_with_the_right_metadata() {
    let runtime = runtime();
    let loaded = load_dir(&runtime, &plugin_dir())
        .await
        .expect("read the plugin folder");
    assert!(
        loaded.errors.is_empty(),
        "unexpected load errors: {:?}",
        loaded.errors
    );
    let mut seen: Vec<(String, Vec<ProviderKind>, Vec<String>)> = loaded
        .plugins
        .iter()
        .map(|p| {
            let info = p.info();
            assert_eq!(info.wit_version.to_string(), "0.3.0");
            assert_eq!(info.version, "0.1.0");
            assert_eq!(info.sha256.len(), 64);
            (
                info.name.clone(),
                info.kinds.clone(),
                info.settings.iter().map(|s| s.key.clone()).collect(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        vec![
            (
                "aws".into(),
                vec![ProviderKind::Discovery, ProviderKind::ResourceMetrics],
                [
                    "access_key_id",
                    "secret_access_key",
                    "session_token",
                    "role_arn",
                    "external_id",
                    "regions",
                    "utilisation_interval",
                    "page_size",
                    "endpoint_url"
                ]
                .map(String::from)
                .to_vec()
            ),
            (
                "azure".into(),
                vec![ProviderKind::Discovery, ProviderKind::ResourceMetrics],
                [
                    "tenant_id",
                    "client_id",
                    "client_secret",
                    "subscriptions",
                    "utilisation_interval",
                    "login_base",
                    "management_base"
                ]
                .map(String::from)
                .to_vec()
            ),
            (
                "ccf".into(),
                vec![ProviderKind::Estimation],
                vec!["utilization_default".into()]
            ),
            (
                "electricity-maps".into(),
                vec![ProviderKind::Environment],
                vec![
                    "api_token".into(),
                    "base_url".into(),
                    "cache_seconds".into(),
                    "emission_factor".into()
                ]
            ),
            (
                "gcp".into(),
                vec![ProviderKind::Discovery, ProviderKind::ResourceMetrics],
                [
                    "client_email",
                    "private_key",
                    "private_key_id",
                    "token_uri",
                    "projects",
                    "utilisation_interval",
                    "page_size",
                    "api_base",
                    "monitoring_base"
                ]
                .map(String::from)
                .to_vec()
            ),
            (
                "hetzner-cloud".into(),
                vec![ProviderKind::Discovery],
                vec![
                    "token".into(),
                    "project_name".into(),
                    "page_size".into(),
                    "base_url".into()
                ]
            ),
            (
                "kubernetes".into(),
                vec![ProviderKind::Discovery],
                vec![
                    "api_server".into(),
                    "token".into(),
                    "pool_label".into(),
                    "page_size".into()
                ]
            ),
            (
                "linux-host".into(),
                vec![ProviderKind::Discovery, ProviderKind::ResourceMetrics],
                vec![
                    "min_watts_per_vcpu".into(),
                    "max_watts_per_vcpu".into(),
                    "pue".into(),
                    "force_estimate".into(),
                    "resource_id".into(),
                    "country".into(),
                    "zone".into()
                ]
            ),
            (
                "mock-cloud".into(),
                vec![ProviderKind::Discovery],
                vec![
                    "projects".into(),
                    "resources_per_project".into(),
                    "churn_period_secs".into(),
                    "extra_labels".into(),
                    "label_bytes".into(),
                    "cloud".into()
                ]
            ),
            ("mock-grid".into(), vec![ProviderKind::Environment], vec![]),
            (
                "mock-meter".into(),
                vec![ProviderKind::ResourceMetrics],
                vec!["mode".into(), "wrap_joules".into()]
            ),
            (
                "prometheus".into(),
                vec![ProviderKind::Discovery, ProviderKind::ResourceMetrics],
                [
                    "url",
                    "mode",
                    "instance_label",
                    "resource_template",
                    "sources",
                    "selector",
                    "lookback",
                    "rate_window",
                    "min_watts_per_vcpu",
                    "max_watts_per_vcpu",
                    "jobs",
                    "country",
                    "bearer_token"
                ]
                .map(String::from)
                .to_vec()
            ),
            (
                "static-grid".into(),
                vec![ProviderKind::Environment],
                vec![]
            ),
            (
                "watttime".into(),
                vec![ProviderKind::Environment],
                vec![
                    "username".into(),
                    "password".into(),
                    "region".into(),
                    "base_url".into(),
                    "cache_seconds".into(),
                    "forecast_hours".into()
                ]
            ),
        ]
    );
}

#[tokio::test]
async fn mock_plugins_answer_through_the_host() {
    let runtime = runtime();
    let cloud = load_file(&runtime, MOCK_CLOUD.as_ref())
        .await
        .expect("mock-cloud");
    let meter = load_file(&runtime, MOCK_METER.as_ref())
        .await
        .expect("mock-meter");
    let grid = load_file(&runtime, MOCK_GRID.as_ref())
        .await
        .expect("mock-grid");

    let settings = settings(&[("projects", "3"), ("resources_per_project", "40")]);
    let acct = account("acme");
    let projects = cloud
        .list_projects(&Grants::NONE, &settings, &acct)
        .await
        .expect("projects");
    assert_eq!(projects.len(), 3);
    assert_eq!(projects[0].id, "acme-p0");
    let resources = cloud
        .list_resources(&Grants::NONE, &settings, &acct, &projects[1])
        .await
        .expect("resources")
        .into_items();
    assert_eq!(resources.len(), 40);
    let again = cloud
        .list_resources(&Grants::NONE, &settings, &acct, &projects[1])
        .await
        .expect("resources")
        .into_items();
    assert_eq!(resources, again, "the mock topology is deterministic");

    let samples = meter
        .collect_samples(&Grants::NONE, &vec![], &acct, &resources)
        .await
        .expect("samples")
        .into_items();
    assert_eq!(
        samples.len(),
        resources.len(),
        "one sample per resource in one batch call"
    );
    for (s, r) in samples.iter().zip(&resources) {
        assert_eq!(s.resource_id, r.id);
        let joules = s.energy_joules.expect("counter mode gives energy");
        assert!(joules > 1e9, "years of a >10 W draw since 2020: {joules}");
        assert!(s.power_watts.is_none());
        let util = s.cpu_utilization_ratio.expect("utilisation");
        assert!((0.0..=1.0).contains(&util));
    }

    let queries: Vec<LocationQuery> = ["FR", "IN", "ZZ"]
        .iter()
        .map(|c| LocationQuery {
            id: format!("loc-{c}"),
            location: Location {
                cloud: None,
                grid_zone: None,
                country: Some((*c).into()),
                region: None,
                zone: None,
                coordinates: None,
            },
            grid_zone: None,
        })
        .collect();
    let mixes = grid
        .collect_energy_mix(&Grants::NONE, &vec![], &queries)
        .await
        .expect("mixes")
        .into_items();
    assert_eq!(mixes.len(), 3);
    assert_eq!(mixes[0].location_id, "loc-FR");
    assert!(
        mixes[0].carbon_intensity < mixes[1].carbon_intensity,
        "France's grid is cleaner than India's"
    );
    for m in &mixes {
        let total: f64 = m.shares.iter().map(|s| s.ratio).sum();
        assert!((total - 1.0).abs() < 1e-9, "shares sum to one: {total}");
    }
}

#[tokio::test]
async fn a_guest_error_comes_back_wrapped_with_name_and_version() {
    let runtime = runtime();
    let cloud = load_file(&runtime, MOCK_CLOUD.as_ref())
        .await
        .expect("mock-cloud");
    let err = cloud
        .list_projects(
            &Grants::NONE,
            &settings(&[("projects", "many")]),
            &account("a"),
        )
        .await
        .expect_err("a bad setting");
    assert!(matches!(
        err.provider_error(),
        Some(ProviderError::BadConfig(_))
    ));
    assert_eq!(
        err.to_string(),
        "plugin mock-cloud 0.1.0: discovery.list-projects returned an error: bad configuration: \
         setting `projects` must be a whole number, got `many`"
    );
}

#[tokio::test]
async fn a_trapping_guest_fails_its_call_and_the_others_keep_answering() {
    let runtime = runtime();
    let trapping = load_file(&runtime, TRAPPING.as_ref())
        .await
        .expect("trapping loads");
    let meter = load_file(&runtime, MOCK_METER.as_ref())
        .await
        .expect("mock-meter");
    let cloud = load_file(&runtime, MOCK_CLOUD.as_ref())
        .await
        .expect("mock-cloud");
    let resources = cloud
        .list_resources(
            &Grants::NONE,
            &vec![],
            &account("a"),
            &cloud
                .list_projects(&Grants::NONE, &vec![], &account("a"))
                .await
                .expect("projects")[0],
        )
        .await
        .expect("resources");

    for _ in 0..3 {
        let err = trapping
            .collect_samples(&Grants::NONE, &vec![], &account("a"), &resources)
            .await
            .expect_err("it panics");
        assert_eq!(err.reason(), "trap");
        let text = err.to_string();
        assert!(
            text.starts_with("plugin trapping 0.0.1: resource-metrics.collect trapped"),
            "{text}"
        );
        // The same runtime and the other plugins are unaffected.
        let samples = meter
            .collect_samples(&Grants::NONE, &vec![], &account("a"), &resources)
            .await
            .expect("meter still answers");
        assert_eq!(samples.len(), resources.len());
    }
    let err = trapping
        .list_projects(&Grants::NONE, &vec![], &account("a"))
        .await
        .expect_err("guest error");
    assert!(matches!(
        err.provider_error(),
        Some(ProviderError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn a_guest_stuck_in_a_loop_is_stopped_at_its_deadline() {
    let runtime = std::sync::Arc::new(
        carbonaut_plugins::new_runtime(Limits {
            call_deadline: Duration::from_millis(50),
            ..Limits::default()
        })
        .expect("runtime"),
    );
    let trapping = load_file(&runtime, TRAPPING.as_ref())
        .await
        .expect("trapping loads");
    let err = trapping
        .collect_energy_mix(&Grants::NONE, &vec![], &[])
        .await
        .expect_err("an endless loop");
    assert!(
        matches!(err.kind, CallErrorKind::Deadline { deadline_ms: 50 }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin trapping 0.0.1: environment.collect exceeded its deadline of 50 ms"
    );
    let grid = load_file(&runtime, MOCK_GRID.as_ref())
        .await
        .expect("mock-grid");
    assert!(
        grid.collect_energy_mix(&Grants::NONE, &vec![], &[])
            .await
            .expect("grid answers")
            .is_empty()
    );
}

#[tokio::test]
async fn a_plugin_that_does_not_implement_a_kind_says_so() {
    let runtime = runtime();
    let grid = load_file(&runtime, MOCK_GRID.as_ref())
        .await
        .expect("mock-grid");
    let err = grid
        .list_projects(&Grants::NONE, &vec![], &account("a"))
        .await
        .expect_err("not discovery");
    assert_eq!(
        err.to_string(),
        "plugin mock-grid 0.1.0: discovery is not implemented by this plugin"
    );
}

#[tokio::test]
async fn random_bytes_are_refused_as_not_webassembly() {
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = load_bytes(&runtime(), "noise.wasm", bytes)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::NotWasm { .. }));
    assert_eq!(
        err.to_string(),
        "noise.wasm: not a WebAssembly file (it does not start with the `\\0asm` magic bytes)"
    );
}

#[tokio::test]
async fn a_core_module_is_refused_with_how_to_make_a_component() {
    // The smallest valid core module: magic and version 1, no sections.
    let err = load_bytes(&runtime(), "core.wasm", b"\0asm\x01\0\0\0".to_vec())
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::CoreModule { .. }));
    assert!(
        err.to_string()
            .contains("core WebAssembly module, not a component"),
        "{err}"
    );
}

#[tokio::test]
async fn a_truncated_component_is_refused_as_invalid() {
    let bytes = std::fs::read(MOCK_CLOUD).expect("mock-cloud bytes");
    let err = load_bytes(&runtime(), "cut.wasm", bytes[..bytes.len() / 2].to_vec())
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("cut.wasm: not a valid WebAssembly component"),
        "{err}"
    );
}

#[tokio::test]
async fn a_component_of_another_world_is_refused_naming_its_exports() {
    let err = load_file(&runtime(), OTHER_WORLD.as_ref())
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::NoKnownWorld { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("implements no known world"), "{text}");
    assert!(text.contains("example:other/greeter@1.0.0"), "{text}");
}

#[tokio::test]
async fn a_bad_file_in_the_folder_does_not_stop_the_good_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(MOCK_GRID, dir.path().join("grid.wasm")).expect("copy");
    std::fs::copy(MOCK_GRID, dir.path().join("grid-again.wasm")).expect("copy");
    std::fs::write(dir.path().join("broken.wasm"), b"not wasm").expect("write");
    std::fs::write(dir.path().join("notes.txt"), b"ignored").expect("write");
    let loaded = load_dir(&runtime(), dir.path()).await.expect("read folder");
    assert_eq!(loaded.plugins.len(), 1);
    assert_eq!(loaded.errors.len(), 2, "{:?}", loaded.errors);
    assert!(
        loaded
            .errors
            .iter()
            .any(|e| matches!(e, LoadError::NotWasm { .. }))
    );
    assert!(
        loaded
            .errors
            .iter()
            .any(|e| matches!(e, LoadError::DuplicateName { .. }))
    );
}

/// The daemon compiles in a child process of its own binary (`carbonaut_runtime::compiler`):
/// with and without a cache, a good component loads and answers from the child's artifact,
/// a bad one is refused with the compiler's message, as in process, and a compiler that
/// cannot be started is named.
#[tokio::test]
async fn a_compiler_child_loads_what_in_process_compiling_loads_and_refuses_the_rest() {
    let cache = tempfile::tempdir().expect("cache dir");
    let child = |cached: bool| {
        let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
        if cached {
            runtime
                .enable_cache(cache.path().to_path_buf())
                .expect("cache");
        }
        runtime.compile_in_child(env!("CARGO_BIN_EXE_carbonaut").into());
        std::sync::Arc::new(runtime)
    };
    let cut = {
        let bytes = std::fs::read(MOCK_CLOUD).expect("mock-cloud bytes");
        bytes[..bytes.len() / 2].to_vec()
    };
    let in_process = load_bytes(&runtime(), "cut.wasm", cut.clone())
        .await
        .err()
        .expect("refused");
    for cached in [false, true] {
        let runtime = child(cached);
        let plugin = load_file(&runtime, MOCK_GRID.as_ref())
            .await
            .expect("mock-grid compiles in the child");
        assert_eq!(plugin.info().name, "mock-grid");
        let queries = [LocationQuery {
            id: "loc-DE".into(),
            location: Location {
                country: Some("DE".into()),
                ..Location::default()
            },
            grid_zone: None,
        }];
        let mixes = plugin
            .collect_energy_mix(&Grants::NONE, &vec![], &queries)
            .await
            .expect("it answers")
            .into_items();
        assert_eq!(mixes.len(), 1, "cached: {cached}");
        assert_eq!(mixes[0].location_id, "loc-DE");

        let err = load_bytes(&runtime, "cut.wasm", cut.clone())
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
        assert_eq!(err.to_string(), in_process.to_string(), "cached: {cached}");
    }
    let cached = std::fs::read_dir(cache.path())
        .expect("cache")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(cached, 1, "the child's artifact is cached");

    let mut missing = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    missing.compile_in_child("/nonexistent/carbonaut".into());
    let err = load_file(&std::sync::Arc::new(missing), MOCK_GRID.as_ref())
        .await
        .err()
        .expect("no compiler");
    assert!(
        err.to_string()
            .contains("cannot start the compiler (/nonexistent/carbonaut)"),
        "{err}"
    );
}
