//! AWS's error answers, played by the tests' fake server (moto cannot be made to throttle or
//! expire a token): throttling retried with backoff and then reported as unavailable, an
//! expired token reported as unauthorized (and a role's session renewed once), a region that
//! never answers given up on within the call's deadline. Every message names the account, the
//! region and the API action.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carbonaut_model::ProviderError;

use super::{account, grants, plugin, region, runtime_with_store};
use crate::fake_api::{Reply, Seen, Upstream, reply};

/// What the fake AWS does.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    Normal,
    /// This many EC2 requests are throttled (503 RequestLimitExceeded), then it answers.
    Throttled(usize),
    /// EC2 refuses every request signed with the configured key: ExpiredToken.
    Expired,
    /// Requests for ap-southeast-2 (Sydney) and ap-northeast-1 (Tokyo) get no answer for 6 s.
    AsiaHangs,
    /// Every DescribeInstances page has a new `nextToken`.
    Endless,
}

pub struct FakeAws {
    pub upstream: Upstream,
    mode: Arc<Mutex<Mode>>,
}

/// `Action` of a form body.
pub fn action(seen: &Seen) -> String {
    seen.body
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .unwrap_or_default()
        .to_owned()
}

/// Access key and region of the request's credential scope.
fn scope(seen: &Seen) -> (String, String) {
    let credential = seen
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split(',').next())
        .unwrap_or_default();
    let parts: Vec<&str> = credential.split('/').collect();
    (
        parts.first().copied().unwrap_or_default().to_owned(),
        parts.get(2).copied().unwrap_or_default().to_owned(),
    )
}

fn xml(status: u16, body: String) -> Reply {
    reply(status, body).header("content-type", "text/xml")
}

fn ec2_error(status: u16, code: &str, message: &str) -> Reply {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
             <Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>"
        ),
    )
}

/// One running m5.large called after its region.
fn page(region: &str) -> Reply {
    xml(
        200,
        format!(
            "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <reservationSet><item><instancesSet><item><instanceId>i-{region}</instanceId>\
             <instanceType>m5.large</instanceType><instanceState><code>16</code><name>running\
             </name></instanceState><tagSet/></item></instancesSet></item></reservationSet>\
             </DescribeInstancesResponse>"
        ),
    )
}

/// GetMetricData's answer: 50 % for the first query, in the last complete 5-minute period.
fn metric_data() -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let period = now / 300 * 300 - 300;
    let at = time::OffsetDateTime::from_unix_timestamp(period as i64)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    xml(
        200,
        format!(
            "<GetMetricDataResponse><GetMetricDataResult><MetricDataResults><member><Id>m0</Id>\
             <Timestamps><member>{at}</member></Timestamps><Values><member>50.0</member>\
             </Values><StatusCode>Complete</StatusCode></member></MetricDataResults>\
             </GetMetricDataResult></GetMetricDataResponse>"
        ),
    )
}

/// AssumeRole's answer: the n-th session (`ASIA1`, `ASIA2`, …).
fn session(n: usize) -> Reply {
    xml(
        200,
        format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleResult><Credentials><AccessKeyId>ASIA{n}</AccessKeyId>\
             <SecretAccessKey>secret{n}</SecretAccessKey><SessionToken>token{n}</SessionToken>\
             <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>\
             </AssumeRoleResponse>"
        ),
    )
}

impl FakeAws {
    pub fn start() -> FakeAws {
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let shared = mode.clone();
        let sessions = Arc::new(Mutex::new(0));
        let pages = AtomicUsize::new(0);
        let upstream = Upstream::start(move |seen| {
            let (key, region) = scope(seen);
            let action = action(seen);
            if action == "AssumeRole" {
                let mut n = sessions.lock().expect("lock");
                *n += 1;
                return session(*n);
            }
            let mut mode = shared.lock().expect("lock");
            let now = *mode;
            match now {
                Mode::Throttled(n) if n > 0 => {
                    *mode = Mode::Throttled(n - 1);
                    return ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.");
                }
                // A renewed session (`ASIA2`) is not expired.
                Mode::Expired if key != "ASIA2" => {
                    return ec2_error(
                        400,
                        "ExpiredToken",
                        "The security token included in the request is expired",
                    );
                }
                Mode::AsiaHangs if region == "ap-southeast-2" || region == "ap-northeast-1" => {
                    drop(mode);
                    std::thread::sleep(Duration::from_secs(6));
                }
                _ => {}
            }
            if action == "GetMetricData" {
                return metric_data();
            }
            if now == Mode::Endless {
                let token = pages.fetch_add(1, Ordering::Relaxed);
                let mut page = page(&region);
                page.body = page.body.replace(
                    "</DescribeInstancesResponse>",
                    &format!("<nextToken>t{token}</nextToken></DescribeInstancesResponse>"),
                );
                return page;
            }
            page(&region)
        });
        FakeAws { upstream, mode }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    /// Action and access key of each request so far, forgetting them.
    fn requests(&self) -> Vec<(String, String)> {
        self.upstream
            .take()
            .iter()
            .map(|seen| (action(seen), scope(seen).0))
            .collect()
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, k)| ((*a).to_owned(), (*k).to_owned()))
        .collect()
}

fn unavailable(error: Option<&ProviderError>) -> (String, Option<u64>) {
    match error {
        Some(ProviderError::Unavailable(u)) => (u.message.clone(), u.retry_after_ms),
        other => panic!("not unavailable: {other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_reported_unavailable() {
    let fake = FakeAws::start();
    let (runtime, _tree) = runtime_with_store();
    let plugin = plugin(&runtime).await;
    let url = fake.upstream.origin();
    let reader = account(&url, &[("regions", "eu-west-1")]);
    let (granted, none, eu) = (grants(&url), vec![], region("eu-west-1"));
    let list = || plugin.list_resources(&granted, &none, &reader, &eu);

    // Two throttled answers, then the page: the call succeeds after three requests.
    fake.set(Mode::Throttled(2));
    let started = Instant::now();
    let listed = list().await.expect("answered at the third attempt");
    assert_eq!(listed.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "0.2 s + 0.4 s of backoff"
    );
    let describe = (
        "DescribeInstances".to_owned(),
        "AKIDCARBONAUTTEST".to_owned(),
    );
    assert_eq!(fake.requests(), vec![describe.clone(); 3]);

    // Throttled throughout: three attempts, then unavailable with a retry hint.
    fake.set(Mode::Throttled(10));
    let err = list().await.expect_err("throttled");
    let (message, retry_after) = unavailable(err.provider_error());
    assert_eq!(
        message,
        "account `prod`, region `eu-west-1`, ec2:DescribeInstances: HTTP 503 \
         RequestLimitExceeded: Request limit exceeded. (after 3 attempts)"
    );
    assert_eq!(retry_after, Some(5_000));
    assert_eq!(fake.requests(), vec![describe; 3]);
}

#[tokio::test]
async fn an_expired_token_is_unauthorized_and_a_roles_session_is_renewed() {
    let fake = FakeAws::start();
    let (runtime, _tree) = runtime_with_store();
    let plugin = plugin(&runtime).await;
    let url = fake.upstream.origin();
    fake.set(Mode::Expired);

    let keys = account(&url, &[("regions", "us-east-1")]);
    let err = plugin
        .list_resources(&grants(&url), &vec![], &keys, &region("us-east-1"))
        .await
        .expect_err("expired");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m)) if m == "account \
         `prod`, region `us-east-1`, ec2:DescribeInstances: HTTP 400 ExpiredToken: The \
         security token included in the request is expired"),
        "{err}"
    );
    assert_eq!(
        fake.requests(),
        pairs(&[("DescribeInstances", "AKIDCARBONAUTTEST")])
    );

    // With a role, the session AWS calls expired is forgotten and the role assumed again,
    // once: the first session (`ASIA1`) is refused, the second (`ASIA2`) answers.
    let role = account(
        &url,
        &[
            ("regions", "us-east-1"),
            ("role_arn", "arn:aws:iam::123456789012:role/reader"),
        ],
    );
    let listed = plugin
        .list_resources(&grants(&url), &vec![], &role, &region("us-east-1"))
        .await
        .expect("renewed");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        fake.requests(),
        pairs(&[
            ("AssumeRole", "AKIDCARBONAUTTEST"),
            ("DescribeInstances", "ASIA1"),
            ("AssumeRole", "AKIDCARBONAUTTEST"),
            ("DescribeInstances", "ASIA2"),
        ])
    );
    // The renewed session is kept: the next call assumes nothing.
    plugin
        .list_resources(&grants(&url), &vec![], &role, &region("us-east-1"))
        .await
        .expect("kept session");
    assert_eq!(fake.requests(), pairs(&[("DescribeInstances", "ASIA2")]));
}

#[tokio::test]
async fn a_region_that_never_answers_fails_that_region_only() {
    let fake = FakeAws::start();
    let (runtime, _tree) = runtime_with_store();
    let plugin = plugin(&runtime).await;
    let url = fake.upstream.origin();
    fake.set(Mode::AsiaHangs);
    let reader = account(&url, &[("regions", "us-east-1,ap-southeast-2")]);
    let started = Instant::now();
    let err = plugin
        .list_resources(&grants(&url), &vec![], &reader, &region("ap-southeast-2"))
        .await
        .expect_err("no answer");
    let (message, _) = unavailable(err.provider_error());
    assert_eq!(
        message,
        "account `prod`, region `ap-southeast-2`, ec2:DescribeInstances: no answer within 4 s"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "within the host's deadline: {took:?}"
    );
    let other = plugin
        .list_resources(&grants(&url), &vec![], &reader, &region("us-east-1"))
        .await
        .expect("another region answers");
    assert_eq!(other[0].id, "i-us-east-1");

    // A region whose CloudWatch never answers leaves its instances out; the others answer
    // (asked first: regions are read in the order the batch names them).
    let resources = vec![other[0].clone(), {
        let mut sydney = other[0].clone();
        sydney.id = "i-ap-southeast-2".into();
        sydney.location.region = Some("ap-southeast-2".into());
        sydney
    }];
    let samples = plugin
        .collect_samples(&grants(&url), &vec![], &reader, &resources)
        .await
        .expect("the answering region");
    let got: Vec<(&str, Option<f64>)> = samples
        .iter()
        .map(|s| (s.resource_id.as_str(), s.cpu_utilization_ratio))
        .collect();
    assert_eq!(got, [("i-us-east-1", Some(0.5))]);
}

#[tokio::test]
async fn a_listing_that_never_ends_stops_at_the_request_budget() {
    let fake = FakeAws::start();
    let (runtime, _tree) = runtime_with_store();
    let plugin = plugin(&runtime).await;
    let url = fake.upstream.origin();
    fake.set(Mode::Endless);
    let err = plugin
        .list_resources(
            &grants(&url),
            &vec![],
            &account(&url, &[("regions", "eu-west-1")]),
            &region("eu-west-1"),
        )
        .await
        .expect_err("endless");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Other(m)) if m == "account `prod`, \
         region `eu-west-1`, ec2:DescribeInstances: this call already made 100 requests, the \
         most one call may make; a listing that does not end is a bug"),
        "{err}"
    );
    let seen = fake.upstream.take();
    assert_eq!(seen.len(), 100);
    // Pages of the configured size, each after the first asking for the token the last gave.
    assert_eq!(
        seen[0].body,
        "Action=DescribeInstances&Version=2016-11-15&MaxResults=5"
    );
    assert_eq!(
        seen[1].body,
        "Action=DescribeInstances&Version=2016-11-15&MaxResults=5&NextToken=t0"
    );
}

/// Two regions that hang take 8 s; a third that hung too would pass the host's 10 s deadline
/// and lose every answer of the call. So once 5 s are spent the call asks no more regions:
/// Virginia, third here, waits for the next collection (though it would have answered).
#[tokio::test]
async fn hanging_regions_cannot_push_a_collection_past_the_deadline() {
    let fake = FakeAws::start();
    let (runtime, _tree) = runtime_with_store();
    let plugin = plugin(&runtime).await;
    let url = fake.upstream.origin();
    let reader = account(&url, &[("regions", "us-east-1")]);
    let virginia = plugin
        .list_resources(&grants(&url), &vec![], &reader, &region("us-east-1"))
        .await
        .expect("listed")
        .into_items()
        .remove(0);
    let elsewhere = |name: &str| {
        let mut instance = virginia.clone();
        instance.id = format!("i-{name}");
        instance.location.region = Some(name.into());
        instance
    };
    fake.set(Mode::AsiaHangs);
    let started = Instant::now();
    let err = plugin
        .collect_samples(
            &grants(&url),
            &vec![],
            &reader,
            &[
                elsewhere("ap-southeast-2"),
                elsewhere("ap-northeast-1"),
                virginia.clone(),
            ],
        )
        .await
        .expect_err("both asked regions hang");
    let took = started.elapsed();
    let (message, _) = unavailable(err.provider_error());
    assert!(
        message.starts_with("account `prod`, region `ap-southeast-2`, monitoring:GetMetricData"),
        "{message}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Virginia was never asked, with the budget spent.
    assert!(
        !fake
            .upstream
            .take()
            .iter()
            .any(|s| action(s) == "GetMetricData" && scope(s).1 == "us-east-1")
    );
}
