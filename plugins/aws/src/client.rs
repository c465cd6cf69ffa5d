//! One AWS query-protocol request (EC2, CloudWatch and STS all speak it): a form-encoded POST,
//! signed with Signature Version 4, retried with backoff while AWS throttles, its XML error
//! turned into the provider error the host acts on, and counted.
//!
//! Every message names the account, the region and the API action, so an operator with many
//! accounts knows which key, which region and which IAM permission to look at.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use carbonaut_sdk::http::{HttpErrorKind, Request, Response};
use carbonaut_sdk::{ProviderError, UnavailableError, log, time};

use crate::clock;
use crate::settings::Config;
use crate::sigv4::{self, Credentials, Unsigned};
use crate::xml;

/// Attempts of one request while AWS answers that it throttles: the waits between them
/// (0.2 s, then 0.4 s) fit well inside the host's 10 s call deadline.
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF_MS: u64 = 200;
/// How long the host should wait after the last throttled attempt when AWS says nothing.
const THROTTLED_RETRY_AFTER_MS: u64 = 5_000;
/// Requests one plugin call may make, all actions together: 100 pages of 1000 instances, or
/// 50 000 CloudWatch metrics. A listing that goes on is a bug, not a large account.
pub const MAX_REQUESTS_PER_CALL: u32 = 100;
/// Connect and first-byte timeout of one request. A region that does not answer in that time
/// is reported unavailable for this call, well within the host's deadline.
const TIMEOUT: Duration = Duration::from_secs(4);

/// An AWS API the plugin calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ec2,
    CloudWatch,
    Sts,
}

impl Service {
    /// The name in the credential scope and in error messages.
    fn signing_name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::CloudWatch => "monitoring",
            Service::Sts => "sts",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Service::Ec2 => "2016-11-15",
            Service::CloudWatch => "2010-08-01",
            Service::Sts => "2011-06-15",
        }
    }

    /// AWS's own endpoint of the service in `region` (STS: the global endpoint, signed for
    /// us-east-1).
    fn default_endpoint(self, region: &str) -> String {
        match self {
            Service::Ec2 => format!("https://ec2.{region}.amazonaws.com"),
            Service::CloudWatch => format!("https://monitoring.{region}.amazonaws.com"),
            Service::Sts => "https://sts.amazonaws.com".to_owned(),
        }
    }
}

/// Signs and sends requests for one account with one set of credentials, counting them.
pub struct Client<'a> {
    config: &'a Config,
    credentials: Credentials,
    /// Requests per action (`ec2:DescribeInstances`) in this call.
    counts: RefCell<BTreeMap<String, u32>>,
}

/// What a request is about, for messages.
struct Context<'a> {
    account: &'a str,
    region: &'a str,
    action: String,
}

impl std::fmt::Display for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "account `{}`, region `{}`, {}",
            self.account, self.region, self.action
        )
    }
}

impl<'a> Client<'a> {
    pub fn new(config: &'a Config, credentials: Credentials) -> Self {
        Client {
            config,
            credentials,
            counts: RefCell::new(BTreeMap::new()),
        }
    }

    pub fn account(&self) -> &str {
        &self.config.account
    }

    /// Logs the requests this call made (at debug: one line a call).
    pub fn log_counts(&self, operation: &str) {
        let counts = self.counts.borrow();
        if counts.is_empty() {
            return;
        }
        let fields: Vec<(String, String)> = counts
            .iter()
            .map(|(action, n)| (action.clone(), n.to_string()))
            .collect();
        let mut borrowed: Vec<(&str, &str)> = vec![("account", &self.config.account)];
        borrowed.push(("operation", operation));
        borrowed.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        log::debug("AWS requests of this call", &borrowed);
    }

    /// Calls `action` of `service` in `region` with `params`; the answer's XML text.
    pub fn call(
        &self,
        service: Service,
        region: &str,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String, ProviderError> {
        let context = Context {
            account: &self.config.account,
            region,
            action: format!("{}:{action}", service.signing_name()),
        };
        let url = match &self.config.endpoint_url {
            Some(base) => format!("{base}/"),
            None => format!("{}/", service.default_endpoint(region)),
        };
        let signing_region = match (service, &self.config.endpoint_url) {
            (Service::Sts, None) => "us-east-1",
            _ => region,
        };
        let mut form = vec![
            ("Action".to_owned(), action.to_owned()),
            ("Version".to_owned(), service.api_version().to_owned()),
        ];
        form.extend_from_slice(params);
        let body = sigv4::query_string(&form);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.count(&context)?;
            let response = self.send(&url, service, signing_region, &body, &context)?;
            if (200..300).contains(&response.status) {
                return String::from_utf8(response.body).map_err(|_| {
                    ProviderError::Other(format!("{context}: the answer is not UTF-8"))
                });
            }
            let error = classify(&response, &context);
            match error {
                Failure::Throttled(message) if attempt < ATTEMPTS => {
                    let wait = FIRST_BACKOFF_MS << (attempt - 1);
                    log::info(
                        "AWS throttled a request; trying again",
                        &[
                            ("account", context.account),
                            ("region", region),
                            ("action", &context.action),
                            ("wait_ms", &wait.to_string()),
                            ("error", &message),
                        ],
                    );
                    std::thread::sleep(Duration::from_millis(wait));
                }
                Failure::Throttled(message) => {
                    return Err(ProviderError::Unavailable(UnavailableError {
                        message: format!("{message} (after {attempt} attempts)"),
                        retry_after_ms: Some(
                            response
                                .retry_after_ms()
                                .unwrap_or(THROTTLED_RETRY_AFTER_MS),
                        ),
                    }));
                }
                Failure::Final(error) => return Err(error),
            }
        }
    }

    fn count(&self, context: &Context<'_>) -> Result<(), ProviderError> {
        let mut counts = self.counts.borrow_mut();
        let total: u32 = counts.values().sum();
        if total >= MAX_REQUESTS_PER_CALL {
            return Err(ProviderError::Other(format!(
                "{context}: this call already made {total} requests, the most one call may \
                 make; a listing that does not end is a bug"
            )));
        }
        *counts.entry(context.action.clone()).or_default() += 1;
        Ok(())
    }

    fn send(
        &self,
        url: &str,
        service: Service,
        region: &str,
        body: &str,
        context: &Context<'_>,
    ) -> Result<Response, ProviderError> {
        let host = authority(url);
        let headers = vec![(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        )];
        let signed = sigv4::sign(
            &Unsigned {
                method: "POST",
                host,
                path: "/",
                query: &[],
                headers: &headers,
                body: body.as_bytes(),
            },
            &self.credentials,
            region,
            service.signing_name(),
            &clock::amz_date(time::now_ms()),
        );
        // A length rather than a chunked body: every AWS endpoint and emulator takes it.
        let mut request = Request::post(url, body.as_bytes().to_vec())
            .timeout(TIMEOUT)
            .header("content-length", &body.len().to_string());
        for (name, value) in headers.iter().chain(&signed.headers) {
            request = request.header(name, value);
        }
        request.send().map_err(|e| {
            let message = format!("{context}: {}", e.message);
            match e.kind {
                HttpErrorKind::Timeout => ProviderError::Unavailable(UnavailableError {
                    message: format!("{context}: no answer within {} s", TIMEOUT.as_secs()),
                    retry_after_ms: None,
                }),
                _ => carbonaut_sdk::http::HttpError {
                    kind: e.kind,
                    message,
                }
                .into(),
            }
        })
    }
}

/// The authority of `url` (`host[:port]`), as the HTTP layer sends it in `Host`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

enum Failure {
    Throttled(String),
    Final(ProviderError),
}

/// Codes AWS answers when a caller goes too fast (EC2: `RequestLimitExceeded`; query APIs:
/// `Throttling`).
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
];

/// Codes that need other credentials (or permissions): the operator's to fix.
const UNAUTHORIZED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "OptInRequired",
];

fn classify(response: &Response, context: &Context<'_>) -> Failure {
    let (code, text) = xml::error(&response.body).unwrap_or_default();
    let message = if code.is_empty() {
        format!(
            "{context}: HTTP {}: {}",
            response.status,
            response.excerpt()
        )
    } else {
        format!("{context}: HTTP {} {code}: {text}", response.status)
    };
    if THROTTLING.contains(&code.as_str())
        || (code.is_empty() && matches!(response.status, 429 | 503))
    {
        return Failure::Throttled(message);
    }
    Failure::Final(if UNAUTHORIZED.contains(&code.as_str()) {
        ProviderError::Unauthorized(message)
    } else if response.status >= 500 {
        ProviderError::Unavailable(UnavailableError {
            message,
            retry_after_ms: response.retry_after_ms(),
        })
    } else {
        ProviderError::Other(message)
    })
}

/// Whether `error` says the credentials ran out (a cached role session to forget).
pub fn is_expired(error: &ProviderError) -> bool {
    matches!(error, ProviderError::Unauthorized(m) if m.contains("ExpiredToken"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("retry-after".into(), "9".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn ec2_error(code: &str) -> String {
        format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>m</Message></Error></Errors>\
             </Response>"
        )
    }

    #[test]
    fn answers_become_the_errors_the_host_acts_on() {
        let context = Context {
            account: "prod",
            region: "eu-west-1",
            action: "ec2:DescribeInstances".into(),
        };
        let throttled = |status, body: &str| {
            matches!(
                classify(&answer(status, body), &context),
                Failure::Throttled(_)
            )
        };
        assert!(throttled(503, &ec2_error("RequestLimitExceeded")));
        assert!(throttled(400, &ec2_error("Throttling")));
        assert!(throttled(429, "slow down"));
        assert!(throttled(503, ""));
        let final_error = |status, body: &str| match classify(&answer(status, body), &context) {
            Failure::Final(error) => error,
            Failure::Throttled(m) => panic!("throttled: {m}"),
        };
        for code in ["ExpiredToken", "AuthFailure", "UnrecognizedClientException"] {
            assert_eq!(
                final_error(400, &ec2_error(code)),
                ProviderError::Unauthorized(format!(
                    "account `prod`, region `eu-west-1`, ec2:DescribeInstances: HTTP 400 \
                     {code}: m"
                ))
            );
        }
        assert!(matches!(
            final_error(500, &ec2_error("InternalError")),
            ProviderError::Unavailable(u) if u.retry_after_ms == Some(9_000)
        ));
        assert_eq!(
            final_error(400, &ec2_error("InvalidParameterValue")),
            ProviderError::Other(
                "account `prod`, region `eu-west-1`, ec2:DescribeInstances: HTTP 400 \
                 InvalidParameterValue: m"
                    .into()
            )
        );
        assert_eq!(
            final_error(502, "<html>bad gateway</html>"),
            ProviderError::Unavailable(UnavailableError {
                message: "account `prod`, region `eu-west-1`, ec2:DescribeInstances: HTTP 502: \
                          <html>bad gateway</html>"
                    .into(),
                retry_after_ms: Some(9_000),
            })
        );
    }

    #[test]
    fn the_authority_is_host_and_port() {
        assert_eq!(authority("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(
            authority("https://ec2.eu-west-1.amazonaws.com/"),
            "ec2.eu-west-1.amazonaws.com"
        );
    }
}
