//! The gcp plugin against a loopback fake of Google's APIs, started by each test. The fake
//! verifies the service account's assertion with the key's public half (RS256, through
//! `jsonwebtoken`) and its claims, then answers with shapes taken from Google's API reference:
//! - OAuth 2.0 for service accounts ("Using OAuth 2.0 for Server to Server Applications":
//!   `POST token_uri` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=`
//!   → `access_token`, `expires_in`, `token_type`; `invalid_grant` on a bad signature);
//! - Compute Engine v1 `instances.aggregatedList` (`items` keyed by `zones/<zone>`, holding
//!   `instances` or a `NO_RESULTS_ON_PAGE` `warning`; `nextPageToken`) and `machineTypes.get`
//!   (`guestCpus`, `memoryMb`), fixtures in `tests/fixtures/gcp`;
//! - Cloud Monitoring v3 `projects.timeSeries.list` (`timeSeries[].resource.labels.instance_id`,
//!   `points[].interval.endTime`, `points[].value.doubleValue`, newest point first);
//! - Google's error body (`{"error": {"code", "message", "status"}}`, "Errors" in the API
//!   design guide): 401 `UNAUTHENTICATED`, 429 `RESOURCE_EXHAUSTED`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use carbonaut_model::{Account, Project, ProviderError, ResourceInfo, ResourceKind};
use carbonaut_plugins::{CallError, Plugin, load_file};
use carbonaut_runtime::{Grants, Limits, Runtime};

use crate::auth::pki;
use crate::fake_api::{Reply, Seen, Upstream, reply};
use crate::support::*;

const EMAIL: &str = "carbonaut-reader@acme-prod.iam.gserviceaccount.com";
const ACCESS_TOKEN: &str = "ya29.c.fake-access-token";
const PROJECT: &str = "acme-prod";
const PAGE_2: &str = "Cj0KOwoFaW5zdAoyMzQ1";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gcp")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Normal,
    /// Every API request answers 429 `RESOURCE_EXHAUSTED` with `Retry-After: 30`.
    Throttled,
    /// The next API request answers 429 without `Retry-After`, the following ones normally.
    ThrottledOnce,
    /// API requests answer 401 `UNAUTHENTICATED` (a revoked token).
    Unauthenticated,
}

/// The public half the fake verifies assertions with, and where it expects them.
struct Verifier {
    n: String,
    e: String,
    token_uri: String,
}

struct Fake {
    upstream: Upstream,
    mode: Arc<Mutex<Mode>>,
    /// The private key, PEM (PKCS#8), as in the JSON key file.
    private_key: String,
    _dir: tempfile::TempDir,
}

impl Fake {
    fn start() -> Fake {
        let dir = tempfile::tempdir().expect("tmp");
        let key = pki::SigningKey::rs256("gcp-sa", dir.path());
        let private_key =
            std::fs::read_to_string(dir.path().join("gcp-sa.rsa.pem")).expect("private key");
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let verifier = Arc::new(Mutex::new(None::<Verifier>));
        let (shared_mode, shared_verifier) = (mode.clone(), verifier.clone());
        let upstream = Upstream::start(move |seen| {
            let verifier = shared_verifier.lock().expect("lock");
            let mut mode = shared_mode.lock().expect("lock");
            let now = *mode;
            if now == Mode::ThrottledOnce && seen.path != "/token" {
                *mode = Mode::Normal;
            }
            answer(now, seen, verifier.as_ref().expect("verifier set"))
        });
        *verifier.lock().expect("lock") = Some(Verifier {
            n: key.jwk["n"].as_str().expect("n").to_owned(),
            e: key.jwk["e"].as_str().expect("e").to_owned(),
            token_uri: format!("{}/token", upstream.origin()),
        });
        Fake {
            upstream,
            mode,
            private_key,
            _dir: dir,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    /// The service account's settings, as copied from its JSON key file (the private key with
    /// its `\n` escapes, as the file's JSON string holds it).
    fn account(&self, extra: &[(&str, &str)]) -> Account {
        let origin = self.upstream.origin();
        let mut pairs: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in [
            ("client_email", EMAIL.to_owned()),
            ("private_key", self.private_key.replace('\n', "\\n")),
            ("private_key_id", "0123456789abcdef".to_owned()),
            ("token_uri", format!("{origin}/token")),
            ("projects", PROJECT.to_owned()),
            ("api_base", origin.clone()),
            ("monitoring_base", origin.clone()),
            ("page_size", "2".to_owned()),
        ] {
            pairs.push((k.to_owned(), v));
        }
        Account {
            name: "acme".into(),
            settings: pairs,
        }
    }

    /// Request lines since the last call (`POST /token`, `GET /compute/...`).
    fn requests(&self) -> Vec<String> {
        self.upstream
            .take()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

/// Checks the assertion of a token request: RS256 signature by the key's public half,
/// `iss`, `aud` (the token URI), `scope`, and `exp` an hour after `iat`.
fn verify_assertion(seen: &Seen, verifier: &Verifier) -> Result<(), String> {
    let form: Vec<(&str, &str)> = seen
        .body
        .split('&')
        .filter_map(|p| p.split_once('='))
        .collect();
    let field = |name: &str| form.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    if field("grant_type") != Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") {
        return Err(format!("grant_type in {:?}", seen.body));
    }
    let assertion = field("assertion").ok_or("no assertion")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_components(&verifier.n, &verifier.e)
        .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&verifier.token_uri]);
    validation.set_issuer(&[EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
        .map_err(|e| e.to_string())?;
    let claims = data.claims;
    let scopes: Vec<&str> = claims["scope"].as_str().unwrap_or("").split(' ').collect();
    let read_only = scopes.contains(&"https://www.googleapis.com/auth/compute.readonly")
        && scopes.contains(&"https://www.googleapis.com/auth/monitoring.read");
    if !read_only && !scopes.contains(&"https://www.googleapis.com/auth/cloud-platform") {
        return Err(format!("scope {scopes:?}"));
    }
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    if exp.zip(iat).map(|(e, i)| e - i) != Some(3600) {
        return Err(format!("iat {iat:?}, exp {exp:?}"));
    }
    if data.header.kid.as_deref() != Some("0123456789abcdef") {
        return Err(format!("kid {:?}", data.header.kid));
    }
    Ok(())
}

fn answer(mode: Mode, seen: &Seen, verifier: &Verifier) -> Reply {
    if seen.path == "/token" {
        return match verify_assertion(seen, verifier) {
            Ok(()) => reply(
                200,
                format!(
                    r#"{{"access_token":"{ACCESS_TOKEN}","expires_in":3599,"token_type":"Bearer"}}"#
                ),
            ),
            Err(why) => reply(
                400,
                format!(r#"{{"error":"invalid_grant","error_description":"Invalid JWT: {why}"}}"#),
            ),
        };
    }
    if mode == Mode::Unauthenticated
        || seen.header("authorization") != Some(&format!("Bearer {ACCESS_TOKEN}"))
    {
        return reply(401, fixture("error-401.json"));
    }
    match mode {
        Mode::Throttled => {
            return reply(429, fixture("error-429.json")).header("retry-after", "30");
        }
        Mode::ThrottledOnce => return reply(429, fixture("error-429.json")),
        _ => {}
    }
    let path = seen.path.as_str();
    let compute = format!("/compute/v1/projects/{PROJECT}");
    if path == format!("{compute}/aggregated/instances") {
        assert_eq!(seen.query.get("maxResults").map(String::as_str), Some("2"));
        return match seen.query.get("pageToken").map(String::as_str) {
            None => reply(200, fixture("aggregated-instances-page-1.json")),
            Some(PAGE_2) => reply(200, fixture("aggregated-instances-page-2.json")),
            Some(other) => panic!("unknown page token {other}"),
        };
    }
    if let Some(rest) = path.strip_prefix(&format!("{compute}/zones/")) {
        let (zone, kind) = rest.split_once("/machineTypes/").expect("a machine type");
        return match kind {
            "n2-standard-4" => reply(
                200,
                fixture("machine-type-n2-standard-4.json").replace("ZONE", zone),
            ),
            "e2-medium" => reply(200, fixture("machine-type-e2-medium.json")),
            _ => not_found(path),
        };
    }
    if path == format!("/v3/projects/{PROJECT}/timeSeries") {
        let filter = seen.query.get("filter").expect("filter");
        assert!(
            filter.contains("compute.googleapis.com%2Finstance%2Fcpu%2Futilization"),
            "{filter}"
        );
        assert_eq!(
            seen.query
                .get("aggregation.perSeriesAligner")
                .map(String::as_str),
            Some("ALIGN_MEAN")
        );
        for key in [
            "interval.startTime",
            "interval.endTime",
            "aggregation.alignmentPeriod",
        ] {
            assert!(seen.query.contains_key(key), "{key} in {:?}", seen.query);
        }
        return reply(200, time_series());
    }
    not_found(path)
}

fn not_found(path: &str) -> Reply {
    reply(
        404,
        format!(
            r#"{{"error":{{"code":404,"message":"The resource '{path}' was not found","status":"NOT_FOUND"}}}}"#
        ),
    )
}

/// RFC 3339 for `seconds_ago` before now.
fn ago(seconds_ago: i64) -> String {
    let at = time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds_ago);
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// A `timeSeries.list` answer: newest point first; one series for a TERMINATED instance and
/// one for an instance the project no longer lists, both of which the plugin must not report.
fn time_series() -> String {
    let series = |id: &str, zone: &str, newest: f64, older: f64| {
        serde_json::json!({
            "metric": {
                "type": "compute.googleapis.com/instance/cpu/utilization",
                "labels": {"instance_name": format!("vm-{id}")}
            },
            "resource": {
                "type": "gce_instance",
                "labels": {"project_id": PROJECT, "instance_id": id, "zone": zone}
            },
            "metricKind": "GAUGE",
            "valueType": "DOUBLE",
            "points": [
                {"interval": {"startTime": ago(420), "endTime": ago(120)}, "value": {"doubleValue": newest}},
                {"interval": {"startTime": ago(720), "endTime": ago(420)}, "value": {"doubleValue": older}}
            ]
        })
    };
    serde_json::json!({
        "timeSeries": [
            series("4615372198765432101", "europe-west4-a", 0.42, 0.1),
            series("8123000000000000003", "us-central1-b", 0.873, 0.5),
            series("3300000000000000004", "asia-northeast1-a", 0.05, 0.9),
            series("8123000000000000002", "us-central1-b", 0.3, 0.3),
            series("999", "us-central1-b", 0.3, 0.3),
        ],
        "unit": "10^2.%"
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
    let plugin = load_file(&runtime, GCP.as_ref()).await.expect("loads");
    let grants = Grants {
        http: vec![fake.upstream.origin().parse().expect("origin")],
        key_value: Some("gcp".into()),
        ..Grants::NONE
    };
    Setup {
        fake,
        plugin,
        grants,
    }
}

fn project() -> Project {
    Project {
        id: PROJECT.into(),
        name: PROJECT.into(),
        labels: vec![],
    }
}

impl Setup {
    async fn resources(&self, account: &Account) -> Result<Vec<ResourceInfo>, CallError> {
        self.plugin
            .list_resources(&self.grants, &vec![], account, &project())
            .await
            .map(carbonaut_plugins::Checked::into_items)
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    settings(pairs)
}

#[tokio::test]
async fn instances_of_every_zone_and_page_with_sizes_regions_and_grid_zones() {
    let s = setup().await;
    let account = s.fake.account(&[]);
    let projects = s
        .plugin
        .list_projects(&s.grants, &vec![], &account)
        .await
        .expect("projects");
    assert_eq!(*projects, [project()]);
    assert!(
        s.fake.requests().is_empty(),
        "projects come from the settings"
    );

    let vms = s.resources(&account).await.expect("instances");
    let compute = "/compute/v1/projects/acme-prod";
    assert_eq!(
        s.fake.requests(),
        [
            "POST /token".to_owned(),
            format!("GET {compute}/aggregated/instances"),
            format!("GET {compute}/aggregated/instances"),
            // One request per zone and type: db-us-1's custom type is read from its name.
            format!("GET {compute}/zones/europe-west4-a/machineTypes/n2-standard-4"),
            format!("GET {compute}/zones/us-central1-b/machineTypes/e2-medium"),
            format!("GET {compute}/zones/asia-northeast1-a/machineTypes/n2-standard-4"),
        ]
    );
    let names: Vec<&str> = vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["web-eu-1", "batch-us-1", "api-tokyo-1", "db-us-1"]);

    let web = &vms[0];
    assert_eq!(
        (web.id.as_str(), web.kind),
        ("4615372198765432101", ResourceKind::Vm)
    );
    assert_eq!(web.location.region.as_deref(), Some("europe-west4"));
    assert_eq!(web.location.country.as_deref(), Some("NL"));
    assert_eq!(web.location.grid_zone.as_deref(), Some("NL"));
    assert_eq!(web.location.cloud.as_deref(), Some("gcp"));
    assert_eq!(web.hardware.vcpus, Some(4));
    assert_eq!(web.hardware.memory_bytes, Some(16 << 30));
    assert_eq!(web.hardware.instance_type.as_deref(), Some("n2-standard-4"));
    assert_eq!(
        web.hardware.gpu_count,
        Some(0),
        "no guestAccelerators: no GPU"
    );
    assert_eq!(
        web.labels,
        labels(&[
            ("machine_type", "n2-standard-4"),
            ("zone", "europe-west4-a"),
            ("project_id", "acme-prod"),
            ("status", "RUNNING"),
            ("cpu_platform", "Intel Cascade Lake"),
            ("label_env", "prod"),
            ("label_team", "web"),
        ])
    );
    let tokyo = &vms[2];
    assert_eq!(tokyo.location.country.as_deref(), Some("JP"));
    assert_eq!(tokyo.location.grid_zone.as_deref(), Some("JP-TK"));
    let batch = &vms[1];
    assert_eq!(batch.location.region.as_deref(), Some("us-central1"));
    assert_eq!(batch.location.grid_zone.as_deref(), Some("US-MIDW-MISO"));
    assert_eq!(
        (batch.hardware.vcpus, batch.hardware.memory_bytes),
        (Some(2), Some(4 << 30))
    );
    assert!(
        batch
            .labels
            .contains(&("status".into(), "TERMINATED".into()))
    );
    let db = &vms[3];
    assert_eq!(
        (db.hardware.vcpus, db.hardware.memory_bytes),
        (Some(8), Some(32 << 30))
    );
    assert!(
        db.labels
            .contains(&("label_cost_center".into(), "data".into()))
    );
    assert_eq!(
        db.hardware.instance_type.as_deref(),
        Some("n2-custom-8-32768")
    );
    assert_eq!(
        (db.hardware.gpu_count, db.hardware.gpu_model.as_deref()),
        (Some(2), Some("nvidia-tesla-t4"))
    );

    // The token and the machine types are cached: the next sync lists the instances only.
    s.resources(&account).await.expect("instances");
    assert_eq!(
        s.fake.requests(),
        [
            format!("GET {compute}/aggregated/instances"),
            format!("GET {compute}/aggregated/instances"),
        ]
    );
}

#[tokio::test]
async fn utilisation_comes_from_cloud_monitoring_once_per_interval() {
    let s = setup().await;
    let account = s.fake.account(&[]);
    let vms = s.resources(&account).await.expect("instances");
    s.fake.requests();

    let samples = s
        .plugin
        .collect_samples(&s.grants, &vec![], &account, &vms)
        .await
        .expect("samples")
        .into_items();
    assert_eq!(
        s.fake.requests(),
        ["GET /v3/projects/acme-prod/timeSeries"],
        "one request for the whole project, the token from the cache"
    );
    let by_id: Vec<(&str, Option<f64>)> = samples
        .iter()
        .map(|s| (s.resource_id.as_str(), s.cpu_utilization_ratio))
        .collect();
    // The newest point of each running instance; the TERMINATED one gets none.
    assert_eq!(
        by_id,
        [
            ("4615372198765432101", Some(0.42)),
            ("3300000000000000004", Some(0.05)),
            ("8123000000000000003", Some(0.873)),
        ]
    );
    let newest = time::OffsetDateTime::now_utc().unix_timestamp() as u64 * 1000 - 120_000;
    for sample in &samples {
        assert!(
            // The older point is 300 s earlier: a minute of slack for a loaded machine.
            sample.read_at.abs_diff(newest) < 60_000,
            "{}",
            sample.read_at
        );
        assert!(!sample.estimated && sample.power_watts.is_none());
    }

    // Within the interval, the answer is reused: no request.
    let again = s
        .plugin
        .collect_samples(&s.grants, &vec![], &account, &vms)
        .await
        .expect("samples")
        .into_items();
    assert_eq!(again, samples);
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn throttling_is_retried_then_handed_to_the_host_and_refusals_are_unauthorized() {
    let s = setup().await;
    let account = s.fake.account(&[]);

    // A 429 without Retry-After is retried after a short backoff, within the call.
    s.fake.set(Mode::ThrottledOnce);
    let vms = s.resources(&account).await.expect("retried");
    assert_eq!(vms.len(), 4);
    let seen = s.fake.requests();
    assert_eq!(
        seen.iter()
            .filter(|r| r.ends_with("/aggregated/instances"))
            .count(),
        3
    );

    // A long Retry-After is the host's to wait: `unavailable` naming who, where and what.
    s.fake.set(Mode::Throttled);
    let err = s.resources(&account).await.expect_err("429");
    match err.provider_error() {
        Some(ProviderError::Unavailable(u)) => {
            assert_eq!(u.retry_after_ms, Some(30_000));
            for part in [
                "account `acme`",
                EMAIL,
                "project `acme-prod`",
                "compute.instances.aggregatedList",
                "429 RESOURCE_EXHAUSTED",
            ] {
                assert!(u.message.contains(part), "{part} in {}", u.message);
            }
        }
        other => panic!("{other:?}"),
    }

    s.fake.set(Mode::Unauthenticated);
    let err = s.resources(&account).await.expect_err("401");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m))
            if m.contains("401 UNAUTHENTICATED") && m.contains("project `acme-prod`")),
        "{err}"
    );
    // The refused token was forgotten: the next call asks for a new one.
    s.fake.set(Mode::Normal);
    s.fake.requests();
    s.resources(&account).await.expect("instances");
    assert_eq!(s.fake.requests()[0], "POST /token");
}

#[tokio::test]
async fn a_bad_key_is_bad_config_naming_the_setting_never_the_key() {
    let s = setup().await;
    let garbage = "-----BEGIN PRIVATE KEY-----\\nTk9UQUtFWQ==\\n-----END PRIVATE KEY-----\\n";
    let err = s
        .resources(&s.fake.account(&[("private_key", garbage)]))
        .await
        .expect_err("bad key");
    match err.provider_error() {
        Some(ProviderError::BadConfig(m)) => {
            assert!(m.contains("`private_key`") && m.contains(EMAIL), "{m}");
            assert!(!m.contains("Tk9UQUtFWQ"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.fake.requests().is_empty());

    // A well-formed key the fake does not know: the signature fails, `invalid_grant`.
    let dir = tempfile::tempdir().expect("tmp");
    pki::SigningKey::rs256("other", dir.path());
    let other = std::fs::read_to_string(dir.path().join("other.rsa.pem")).expect("pem");
    let err = s
        .resources(&s.fake.account(&[("private_key", &other)]))
        .await
        .expect_err("unknown key");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m))
            if m.contains("invalid_grant") && m.contains("oauth2 token")),
        "{err}"
    );

    let err = s
        .plugin
        .list_projects(
            &s.grants,
            &vec![],
            &s.fake.account(&[("projects", "a/../b")]),
        )
        .await
        .expect_err("bad project");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::BadConfig(m)) if m.contains("`projects`")),
        "{err}"
    );
}

/// Without the key-value store every collection would ask Cloud Monitoring again: refused
/// with the fix, before any request.
#[tokio::test]
async fn the_key_value_store_is_required() {
    let s = setup().await;
    let grants = Grants {
        key_value: None,
        ..s.grants.clone()
    };
    let err = s
        .plugin
        .list_resources(&grants, &vec![], &s.fake.account(&[]), &project())
        .await
        .expect_err("no store");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::BadConfig(m))
            if m.contains("set `key_value = true` on the provider") && m.contains(EMAIL)),
        "{err}"
    );
    assert!(s.fake.requests().is_empty());
}

/// The plugin asks for Google's origins only; a daemon grants nothing else.
#[tokio::test]
async fn a_daemon_grants_only_googles_origins() {
    let s = setup().await;
    let offered = carbonaut_plugins::Offered {
        http: vec![
            s.fake.upstream.origin().parse().expect("origin"),
            "https://compute.googleapis.com".parse().expect("origin"),
        ],
        key_value: true,
        ..Default::default()
    };
    let (grants, unused) = s.plugin.info().needs.grant(&offered, "gcp");
    let granted: Vec<String> = grants.http.iter().map(ToString::to_string).collect();
    assert_eq!(granted, ["https://compute.googleapis.com"]);
    assert_eq!(
        unused,
        [format!("allow_http `{}`", s.fake.upstream.origin())]
    );
    assert_eq!(grants.key_value.as_deref(), Some("gcp"));
}

/// `carbonaut plugin check` of the built plugin, with the example's provider and the fake as
/// the emulator of Google's APIs, prints the inventory and the utilisation.
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
             [providers.gcp]\nplugin = \"gcp\"\nkey_value = true\nallow_http = [\
             \"https://oauth2.googleapis.com\", \"https://compute.googleapis.com\", \
             \"https://monitoring.googleapis.com\"]\n\n\
             [accounts.acme]\ndiscovery = \"gcp\"\nresource_metrics = \"gcp\"\n\
             settings = {{ client_email = \"{EMAIL}\", private_key = \"${{GCP_PRIVATE_KEY}}\", \
             private_key_id = \"0123456789abcdef\", token_uri = \"{origin}/token\", \
             projects = \"{PROJECT}\", page_size = \"2\", api_base = \"{origin}\", \
             monitoring_base = \"{origin}\" }}\n",
            plugin_dir().display().to_string(),
            dir.path().join("state").display().to_string(),
        ),
    )
    .expect("write the config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["plugin", "check", GCP, "--config"])
        .arg(&config)
        .args(["--emulator", &origin])
        .env("GCP_PRIVATE_KEY", &fake.private_key)
        .output()
        .expect("run carbonaut");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        &format!("note        --emulator {origin}: granted to this check only"),
        "discovery.list-projects: ok in ",
        "discovery.list-resources (project `acme-prod`): ok in ",
        r#""name":"web-eu-1""#,
        r#""grid_zone":"NL""#,
        "resource-metrics.collect (4 resources): ok in ",
        r#""cpu_utilization_ratio":0.42"#,
        "ok: every call answered",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(
        text.contains(", 4 items\n") && text.contains(", 3 items\n"),
        "{text}"
    );
    assert!(!text.contains("BEGIN PRIVATE KEY"), "{text}");

    // Anything but loopback is refused: the flag is for emulators, not for other servers.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["plugin", "check", GCP, "--emulator", "https://example.com"])
        .output()
        .expect("run carbonaut");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not on the loopback interface"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The footprint model takes what this plugin hands it: ccf prices each running instance from
/// its cloud, machine type (instance type) and utilisation; a custom type is not in CCF's
/// tables and falls back to the average coefficients for its vCPUs.
#[tokio::test]
async fn the_estimation_model_prices_the_instances_by_machine_type() {
    let s = setup().await;
    let account = s.fake.account(&[]);
    let vms = s.resources(&account).await.expect("instances");
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
    let basis = |id: &str| {
        let e = estimates
            .iter()
            .find(|e| e.resource_id == id)
            .unwrap_or_else(|| panic!("no estimate for {id}: {estimates:?}"));
        assert!(e.power.iter().any(|(_, w)| *w > 0.0), "{e:?}");
        e.basis.clone()
    };
    let web = basis("4615372198765432101");
    assert!(
        web.contains("gcp n2-standard-4") && !web.contains("not in"),
        "{web}"
    );
    let db = basis("8123000000000000003");
    assert!(db.contains("n2-custom-8-32768 not in CCF's tables"), "{db}");
}
