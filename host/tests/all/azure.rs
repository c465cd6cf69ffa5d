//! The azure plugin against a loopback fake of Microsoft's APIs, started by each test, with
//! response shapes from Microsoft's REST API reference:
//! - Microsoft identity platform, "OAuth 2.0 client credentials flow": `POST
//!   /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, `client_id`,
//!   `client_secret`, `scope=https://management.azure.com/.default` → `token_type`,
//!   `expires_in`, `access_token`; `invalid_client` (AADSTS7000215) for a wrong secret;
//! - Resource Manager "Subscriptions - List" (api-version 2022-12-01: `value[]` with
//!   `subscriptionId`, `displayName`, `state`);
//! - Compute "Virtual Machines - List All" (api-version 2024-07-01: `value[]` with `id`,
//!   `name`, `location`, `tags`, `zones`, `properties.vmId`, `properties.hardwareProfile.vmSize`;
//!   `nextLink`) and "Virtual Machine Sizes - List" (`numberOfCores`, `memoryInMB`);
//! - Azure Monitor "Metrics - List At Subscription Scope" (api-version 2023-10-01:
//!   `value[].timeseries[].metadatavalues[]` naming `Microsoft.ResourceId`, `data[].timeStamp`,
//!   `data[].average`, the newest grain without an average yet);
//! - ARM's error body (`{"error": {"code", "message"}}`) and throttling (429 with
//!   `Retry-After`, `x-ms-ratelimit-remaining-*` headers).

use std::path::Path;
use std::sync::{Arc, Mutex};

use carbonaut_model::{Account, Project, ProviderError, ResourceInfo, ResourceKind};
use carbonaut_plugins::{CallError, Plugin, load_file};
use carbonaut_runtime::{Grants, Limits, Runtime};

use crate::fake_api::{Reply, Seen, Upstream, reply};
use crate::support::*;

const TENANT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const CLIENT: &str = "01234567-89ab-cdef-0123-456789abcdef";
/// With characters a form must encode.
const SECRET: &str = "s3cr3t~Value+/=";
const SECRET_ENCODED: &str = "s3cr3t~Value%2B%2F%3D";
const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake.token";
const SUB: &str = "11111111-2222-3333-4444-555555555555";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/azure")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Normal,
    /// ARM answers 429 with `Retry-After: 20`.
    Throttled,
    /// ARM answers 403 `AuthorizationFailed`.
    Forbidden,
    /// The next ARM request answers 429 with `Retry-After: 1`, the following ones normally.
    ThrottledOnce,
    /// ARM answers 401 `InvalidAuthenticationToken` (a revoked token).
    Unauthenticated,
}

struct Fake {
    upstream: Upstream,
    mode: Arc<Mutex<Mode>>,
}

impl Fake {
    fn start() -> Fake {
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let origin = Arc::new(Mutex::new(String::new()));
        let (shared_mode, shared_origin) = (mode.clone(), origin.clone());
        let upstream = Upstream::start(move |seen| {
            let origin = shared_origin.lock().expect("lock").clone();
            let mut mode = shared_mode.lock().expect("lock");
            let now = *mode;
            if now == Mode::ThrottledOnce && !seen.path.ends_with("/token") {
                *mode = Mode::Normal;
            }
            answer(now, seen, &origin)
        });
        *origin.lock().expect("lock") = upstream.origin();
        Fake { upstream, mode }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    fn account(&self, extra: &[(&str, &str)]) -> Account {
        let origin = self.upstream.origin();
        let mut pairs: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in [
            ("tenant_id", TENANT),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("login_base", &origin),
            ("management_base", &origin),
        ] {
            pairs.push((k.to_owned(), v.to_owned()));
        }
        Account {
            name: "contoso".into(),
            settings: pairs,
        }
    }

    /// Method and path (with `region` for metrics) of each request since the last call.
    fn requests(&self) -> Vec<String> {
        self.upstream
            .take()
            .iter()
            .map(|r| match r.query.get("region") {
                Some(region) => format!("{} {} {region}", r.method, r.path),
                None => format!("{} {}", r.method, r.path),
            })
            .collect()
    }
}

fn answer(mode: Mode, seen: &Seen, origin: &str) -> Reply {
    if seen.path == format!("/{TENANT}/oauth2/v2.0/token") {
        let expected = format!(
            "grant_type=client_credentials&client_id={CLIENT}&client_secret={SECRET_ENCODED}\
             &scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
        );
        return if seen.body == expected {
            reply(
                200,
                format!(
                    r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{ACCESS_TOKEN}"}}"#
                ),
            )
        } else {
            reply(401, fixture("token-invalid-client.json"))
        };
    }
    if mode == Mode::Unauthenticated
        || seen.header("authorization") != Some(&format!("Bearer {ACCESS_TOKEN}"))
    {
        return reply(401, fixture("error-401.json"));
    }
    let arm = |r: Reply| {
        r.header("x-ms-ratelimit-remaining-subscription-reads", "11999")
            .header("x-ms-ratelimit-remaining-tenant-reads", "11999")
    };
    match mode {
        Mode::Throttled => {
            return arm(reply(429, fixture("error-429.json")))
                .header("retry-after", "20")
                .header(
                    "x-ms-ratelimit-remaining-resource",
                    "Microsoft.Compute/HighCostGet3Min;0",
                );
        }
        Mode::Forbidden => {
            return reply(
                403,
                format!(
                    r#"{{"error":{{"code":"AuthorizationFailed","message":"The client '{CLIENT}' with object id '{CLIENT}' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/read' over scope '/subscriptions/{SUB}' or the scope is invalid."}}}}"#
                ),
            );
        }
        Mode::ThrottledOnce => {
            return arm(reply(429, fixture("error-429.json"))).header("retry-after", "1");
        }
        Mode::Normal | Mode::Unauthenticated => {}
    }
    let path = seen.path.as_str();
    let api = seen.query.get("api-version").map(String::as_str);
    if path == "/subscriptions" {
        assert_eq!(api, Some("2022-12-01"));
        return arm(reply(200, fixture("subscriptions.json")));
    }
    let vms = format!("/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines");
    if path == vms {
        assert_eq!(api, Some("2024-07-01"));
        return match seen.query.get("%24skiptoken").map(String::as_str) {
            None => arm(reply(
                200,
                fixture("virtual-machines-page-1.json").replace("ORIGIN", origin),
            )),
            Some("cGFnZS0y") => arm(reply(200, fixture("virtual-machines-page-2.json"))),
            Some(other) => panic!("unknown skip token {other}"),
        };
    }
    if path.starts_with(&format!(
        "/subscriptions/{SUB}/providers/Microsoft.Compute/locations/"
    )) && path.ends_with("/vmSizes")
    {
        return arm(reply(200, fixture("vm-sizes.json")));
    }
    if path == format!("/subscriptions/{SUB}/providers/Microsoft.Insights/metrics") {
        assert_eq!(api, Some("2023-10-01"));
        let q = |k: &str| seen.query.get(k).map(String::as_str);
        assert_eq!(q("metricnames"), Some("Percentage%20CPU"));
        assert_eq!(
            q("metricnamespace"),
            Some("microsoft.compute%2Fvirtualmachines")
        );
        assert_eq!(q("aggregation"), Some("average"));
        assert_eq!(q("interval"), Some("PT5M"));
        assert!(
            q("timespan").is_some() && q("%24filter").is_some(),
            "{:?}",
            seen.query
        );
        return arm(reply(200, metrics(q("region").expect("region"))));
    }
    reply(
        404,
        format!(r#"{{"error":{{"code":"ResourceNotFound","message":"{path} was not found."}}}}"#),
    )
}

/// RFC 3339 for `seconds_ago` before now.
fn ago(seconds_ago: i64) -> String {
    let at = time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds_ago);
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// The metrics of one region: a series per VM there (ids in ARM's mixed case), the newest
/// grain still without an average; westeurope also has a VM the subscription no longer lists.
fn metrics(region: &str) -> String {
    let series = |group: &str, name: &str, older: f64, newer: f64| {
        serde_json::json!({
            "metadatavalues": [{
                "name": {"value": "Microsoft.ResourceId", "localizedValue": "Microsoft.ResourceId"},
                "value": format!("/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}")
            }],
            "data": [
                {"timeStamp": ago(900), "average": older},
                {"timeStamp": ago(600), "average": newer},
                {"timeStamp": ago(300)}
            ]
        })
    };
    let timeseries = match region {
        "westeurope" => vec![
            series("RG-Web", "web-we-1", 10.0, 42.5),
            series("rg-gone", "old-vm", 50.0, 50.0),
        ],
        "eastus" => vec![series("RG-BATCH", "batch-eus-1", 99.0, 87.25)],
        "southeastasia" => vec![series("rg-api", "api-sea-1", 1.0, 3.0)],
        other => panic!("unexpected region {other}"),
    };
    serde_json::json!({
        "cost": 0,
        "timespan": format!("{}/{}", ago(1080), ago(0)),
        "interval": "PT5M",
        "value": [{
            "id": format!("/subscriptions/{SUB}/providers/Microsoft.Insights/metrics/Percentage CPU"),
            "type": "Microsoft.Insights/metrics",
            "name": {"value": "Percentage CPU", "localizedValue": "Percentage CPU"},
            "displayDescription": "The percentage of allocated compute units that are currently in use by the Virtual Machine(s)",
            "unit": "Percent",
            "timeseries": timeseries,
            "errorCode": "Success"
        }],
        "namespace": "microsoft.compute/virtualmachines",
        "resourceregion": region
    })
    .to_string()
}

struct Setup {
    fake: Fake,
    plugin: Plugin,
    grants: Grants,
}

async fn setup() -> Setup {
    let fake = Fake::start();
    let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    let db = sled::Config::new().temporary(true).open().expect("sled");
    runtime.enable_key_value(db.open_tree("kv").expect("tree"));
    let runtime: Arc<Runtime> = Arc::new(runtime);
    let plugin = load_file(&runtime, AZURE.as_ref()).await.expect("loads");
    let grants = Grants {
        http: vec![fake.upstream.origin().parse().expect("origin")],
        key_value: Some("azure".into()),
        ..Grants::NONE
    };
    Setup {
        fake,
        plugin,
        grants,
    }
}

fn subscription() -> Project {
    Project {
        id: SUB.into(),
        name: "Acme Production".into(),
        labels: vec![("state".into(), "Enabled".into())],
    }
}

impl Setup {
    async fn resources(&self, account: &Account) -> Result<Vec<ResourceInfo>, CallError> {
        self.plugin
            .list_resources(&self.grants, &vec![], account, &subscription())
            .await
            .map(carbonaut_plugins::Checked::into_items)
    }
}

#[tokio::test]
async fn subscriptions_and_their_vms_with_sizes_regions_and_grid_zones() {
    let s = setup().await;
    let projects = s
        .plugin
        .list_projects(&s.grants, &vec![], &s.fake.account(&[]))
        .await
        .expect("projects");
    let names: Vec<(&str, &str)> = projects
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (SUB, "Acme Production"),
            ("66666666-7777-8888-9999-000000000000", "Acme Sandbox"),
        ]
    );
    assert_eq!(
        s.fake.requests(),
        [
            format!("POST /{TENANT}/oauth2/v2.0/token"),
            "GET /subscriptions".to_owned()
        ]
    );
    // Narrowed to the configured subscriptions.
    let account = s.fake.account(&[("subscriptions", SUB)]);
    let projects = s
        .plugin
        .list_projects(&s.grants, &vec![], &account)
        .await
        .expect("projects");
    assert_eq!(*projects, [subscription()]);
    assert_eq!(
        s.fake.requests(),
        ["GET /subscriptions"],
        "the token is cached"
    );

    let vms = s.resources(&account).await.expect("vms");
    let compute = format!("/subscriptions/{SUB}/providers/Microsoft.Compute");
    assert_eq!(
        s.fake.requests(),
        [
            format!("GET {compute}/virtualMachines"),
            format!("GET {compute}/virtualMachines"),
            format!("GET {compute}/locations/westeurope/vmSizes"),
            format!("GET {compute}/locations/eastus/vmSizes"),
            format!("GET {compute}/locations/southeastasia/vmSizes"),
        ]
    );
    let names: Vec<&str> = vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["web-we-1", "batch-eus-1", "api-sea-1"]);
    let web = &vms[0];
    assert_eq!(
        (web.id.as_str(), web.kind),
        ("0f5c2a4e-8d1b-4b7a-9c3e-1a2b3c4d5e6f", ResourceKind::Vm)
    );
    assert_eq!(web.location.region.as_deref(), Some("westeurope"));
    assert_eq!(web.location.country.as_deref(), Some("NL"));
    assert_eq!(web.location.grid_zone.as_deref(), Some("NL"));
    assert_eq!(web.location.cloud.as_deref(), Some("azure"));
    assert_eq!(
        (web.hardware.vcpus, web.hardware.memory_bytes),
        (Some(4), Some(16 << 30))
    );
    assert_eq!(
        web.hardware.instance_type.as_deref(),
        Some("Standard_D4s_v5")
    );
    assert_eq!(web.hardware.gpu_count, None, "the size list does not say");
    assert_eq!(
        web.labels,
        settings(&[
            ("vm_size", "Standard_D4s_v5"),
            ("subscription_id", SUB),
            ("resource_group", "rg-web"),
            ("availability_zone", "1"),
            ("provisioning_state", "Succeeded"),
            ("tag_cost_center", "web"),
            ("tag_env", "prod"),
        ])
    );
    let batch = &vms[1];
    assert_eq!(batch.location.grid_zone.as_deref(), Some("US-MIDA-PJM"));
    assert_eq!(
        (batch.hardware.vcpus, batch.hardware.memory_bytes),
        (Some(2), Some(4 << 30))
    );
    assert_eq!(vms[2].location.country.as_deref(), Some("SG"));

    // Sizes are cached a day: the next sync lists the VMs only.
    s.resources(&account).await.expect("vms");
    assert_eq!(s.fake.requests().len(), 2);

    // A subscription no longer configured holds nothing, without a request.
    let other = Project {
        id: "66666666-7777-8888-9999-000000000000".into(),
        ..subscription()
    };
    let none = s
        .plugin
        .list_resources(&s.grants, &vec![], &account, &other)
        .await
        .expect("empty");
    assert!(none.is_empty() && s.fake.requests().is_empty());
}

#[tokio::test]
async fn utilisation_comes_from_azure_monitor_once_per_region_and_interval() {
    let s = setup().await;
    let account = s.fake.account(&[]);
    let vms = s.resources(&account).await.expect("vms");
    s.fake.requests();
    let samples = s
        .plugin
        .collect_samples(&s.grants, &vec![], &account, &vms)
        .await
        .expect("samples")
        .into_items();
    let metrics = format!("GET /subscriptions/{SUB}/providers/Microsoft.Insights/metrics");
    assert_eq!(
        s.fake.requests(),
        [
            format!("{metrics} eastus"),
            format!("{metrics} southeastasia"),
            format!("{metrics} westeurope"),
        ]
    );
    let by_id: Vec<(&str, Option<f64>)> = samples
        .iter()
        .map(|s| (s.resource_id.as_str(), s.cpu_utilization_ratio))
        .collect();
    // The newest grain with an average, as a ratio; resource ids matched case-insensitively.
    assert_eq!(
        by_id,
        [
            ("7b1e0c9d-3f2a-4e5b-8c6d-9e0f1a2b3c4d", Some(0.8725)),
            ("c3d4e5f6-a7b8-4c9d-8e0f-112233445566", Some(0.03)),
            ("0f5c2a4e-8d1b-4b7a-9c3e-1a2b3c4d5e6f", Some(0.425)),
        ]
    );
    let then = time::OffsetDateTime::now_utc().unix_timestamp() as u64 * 1000 - 600_000;
    // The other points are 300 s away: a minute of slack for a loaded machine.
    assert!(samples.iter().all(|s| s.read_at.abs_diff(then) < 60_000));

    let again = s
        .plugin
        .collect_samples(&s.grants, &vec![], &account, &vms)
        .await
        .expect("samples")
        .into_items();
    assert_eq!(again, samples);
    assert!(s.fake.requests().is_empty(), "cached for the interval");
}

#[tokio::test]
async fn errors_name_the_account_subscription_and_action() {
    let s = setup().await;
    let err = s
        .resources(&s.fake.account(&[("client_secret", "wrong")]))
        .await
        .expect_err("wrong secret");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m))
            if m.contains("invalid_client: AADSTS7000215") && m.contains("account `contoso`")
                && m.contains(CLIENT)),
        "{err}"
    );

    let account = s.fake.account(&[]);
    s.fake.set(Mode::Throttled);
    let err = s.resources(&account).await.expect_err("429");
    match err.provider_error() {
        Some(ProviderError::Unavailable(u)) => {
            assert_eq!(u.retry_after_ms, Some(20_000));
            for part in [
                "account `contoso`",
                &format!("subscription `{SUB}`"),
                "Microsoft.Compute/virtualMachines/read",
                "429 TooManyRequests",
            ] {
                assert!(u.message.contains(part), "{part} in {}", u.message);
            }
        }
        other => panic!("{other:?}"),
    }

    // A short Retry-After is waited out within the call, and the request made again.
    s.fake.set(Mode::ThrottledOnce);
    s.fake.requests();
    let vms = s.resources(&account).await.expect("retried");
    assert_eq!(vms.len(), 3);
    let lists = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("/virtualMachines"))
        .count();
    assert_eq!(lists, 3, "page 1 twice, then page 2");

    // A revoked token is forgotten: the next call asks Entra ID for a new one.
    s.fake.set(Mode::Unauthenticated);
    let err = s.resources(&account).await.expect_err("401");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m))
            if m.contains("401 InvalidAuthenticationToken")),
        "{err}"
    );
    s.fake.set(Mode::Normal);
    s.fake.requests();
    let vms = s.resources(&account).await.expect("vms");
    assert_eq!(
        s.fake.requests()[0],
        format!("POST /{TENANT}/oauth2/v2.0/token")
    );

    // A throttled metrics query names the region too.
    s.fake.set(Mode::Throttled);
    let err = s
        .plugin
        .collect_samples(&s.grants, &vec![], &account, &vms)
        .await
        .expect_err("429");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unavailable(u))
            if u.message.contains("Microsoft.Insights/metrics/read (Percentage CPU in eastus)")
                && u.message.contains(&format!("subscription `{SUB}`"))),
        "{err}"
    );

    s.fake.set(Mode::Forbidden);
    let err = s.resources(&account).await.expect_err("403");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m))
            if m.contains("403 AuthorizationFailed")),
        "{err}"
    );

    let err = s
        .plugin
        .list_projects(&s.grants, &vec![], &s.fake.account(&[("tenant_id", "a/b")]))
        .await
        .expect_err("bad tenant");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::BadConfig(m)) if m.contains("`tenant_id`")),
        "{err}"
    );
}

/// The plugin asks for Microsoft's origins only; a daemon grants nothing else.
#[tokio::test]
async fn a_daemon_grants_only_microsofts_origins() {
    let s = setup().await;
    let offered = carbonaut_plugins::Offered {
        http: vec![
            s.fake.upstream.origin().parse().expect("origin"),
            "https://management.azure.com".parse().expect("origin"),
            "https://login.microsoftonline.com".parse().expect("origin"),
        ],
        key_value: true,
        ..Default::default()
    };
    let (grants, unused) = s.plugin.info().needs.grant(&offered, "azure");
    let granted: Vec<String> = grants.http.iter().map(ToString::to_string).collect();
    assert_eq!(
        granted,
        [
            "https://management.azure.com",
            "https://login.microsoftonline.com"
        ]
    );
    assert_eq!(
        unused,
        [format!("allow_http `{}`", s.fake.upstream.origin())]
    );
}

/// `carbonaut plugin check` of the built plugin, with the fake as the emulator of
/// Microsoft's APIs, prints the subscriptions, the inventory and the utilisation.
#[test]
fn plugin_check_against_the_emulator_prints_the_inventory() {
    let fake = Fake::start();
    let origin = fake.upstream.origin();
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("carbonaut.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = {:?}\nstate_dir = {:?}\n\n\
             [providers.azure]\nplugin = \"azure\"\nkey_value = true\nallow_http = [\
             \"https://login.microsoftonline.com\", \"https://management.azure.com\"]\n\n\
             [accounts.contoso]\ndiscovery = \"azure\"\nresource_metrics = \"azure\"\n\
             settings = {{ tenant_id = \"{TENANT}\", client_id = \"{CLIENT}\", \
             client_secret = \"${{AZURE_CLIENT_SECRET}}\", subscriptions = \"{SUB}\", \
             login_base = \"{origin}\", management_base = \"{origin}\" }}\n",
            plugin_dir().display().to_string(),
            dir.path().join("state").display().to_string(),
        ),
    )
    .expect("write the config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["plugin", "check", AZURE, "--config"])
        .arg(&config)
        .args(["--emulator", &origin])
        .env("AZURE_CLIENT_SECRET", SECRET)
        .output()
        .expect("run carbonaut");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "discovery.list-projects: ok in ",
        r#""name":"Acme Production""#,
        &format!("discovery.list-resources (project `{SUB}`): ok in "),
        r#""name":"web-we-1""#,
        "resource-metrics.collect (3 resources): ok in ",
        r#""cpu_utilization_ratio":0.425"#,
        "ok: every call answered",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(!text.contains(SECRET), "{text}");
}

/// The footprint model takes what this plugin hands it: ccf prices each VM from its cloud,
/// size (instance type) and utilisation.
#[tokio::test]
async fn the_estimation_model_prices_the_vms_by_size() {
    let s = setup().await;
    let account = s.fake.account(&[]);
    let vms = s.resources(&account).await.expect("vms");
    let samples = s
        .plugin
        .collect_samples(&s.grants, &vec![], &account, &vms)
        .await
        .expect("samples")
        .into_items();
    let ccf = load_file(&runtime(), &plugin_dir().join("ccf.wasm"))
        .await
        .expect("ccf");
    let inputs: Vec<_> = vms
        .iter()
        .map(|v| (v, samples.iter().find(|s| s.resource_id == v.id)))
        .collect();
    let estimates = ccf
        .estimate(&Grants::NONE, &vec![], &inputs)
        .await
        .expect("estimates")
        .into_items();
    assert_eq!(estimates.len(), 3, "{estimates:?}");
    for e in &estimates {
        assert!(e.power.iter().any(|(_, w)| *w > 0.0), "{e:?}");
        assert!(e.basis.starts_with("azure Standard_"), "{}", e.basis);
    }
}
