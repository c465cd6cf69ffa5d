//! The signer against botocore's, byte for byte: the same requests (fixed time and keys, a
//! session token, query strings that need encoding, repeated keys, form bodies, a port) are
//! signed by `testdata/botocore_sign.py` with botocore's `SigV4Auth` and here, and the
//! canonical requests, strings to sign and `Authorization` headers must be equal.
//!
//! botocore comes from the virtual environment `examples/aws-venv.sh` makes (pinned, under
//! `target/aws-venv`, or `$CARBONAUT_AWS_VENV`); without it the test fails saying so.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::sigv4::{Credentials, Unsigned, sign};

/// The venv's Python: `$CARBONAUT_AWS_VENV/bin/python`, else `aws-venv` in the target
/// directory (`$CARGO_TARGET_DIR`, else the workspace's `target`).
fn python() -> PathBuf {
    let venv = match std::env::var_os("CARBONAUT_AWS_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("aws-venv"),
    };
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `examples/aws-venv.sh` (it installs pinned botocore and \
         moto[server] from PyPI into {}; `examples/build-polyglot.sh` runs it too)",
        python.display(),
        venv.display()
    );
    python
}

struct Case {
    method: &'static str,
    scheme: &'static str,
    host: &'static str,
    path: &'static str,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
    token: Option<&'static str>,
    region: &'static str,
    service: &'static str,
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn form() -> Vec<(String, String)> {
    pairs(&[(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )])
}

fn cases() -> Vec<Case> {
    let describe = crate::sigv4::query_string(&pairs(&[
        ("Action", "DescribeInstances"),
        ("Version", "2016-11-15"),
        ("MaxResults", "5"),
        ("NextToken", "eyJ2IjoiMSJ9/+=="),
    ]));
    let metrics = crate::sigv4::query_string(&pairs(&[
        ("Action", "GetMetricData"),
        ("Version", "2010-08-01"),
        (
            "MetricDataQueries.member.1.MetricStat.Metric.Namespace",
            "AWS/EC2",
        ),
        ("StartTime", "2026-12-06T14:05:00Z"),
    ]));
    vec![
        // What the plugin sends: a form POST, with and without a session token.
        Case {
            method: "POST",
            scheme: "https",
            host: "ec2.eu-west-1.amazonaws.com",
            path: "/",
            query: vec![],
            headers: form(),
            body: describe.clone(),
            token: None,
            region: "eu-west-1",
            service: "ec2",
        },
        Case {
            method: "POST",
            scheme: "https",
            host: "monitoring.us-east-1.amazonaws.com",
            path: "/",
            query: vec![],
            headers: form(),
            body: metrics,
            token: Some("FQoGZXIvYXdzEBYaDq/P/b+ZEyUxykcgxZ=="),
            region: "us-east-1",
            service: "monitoring",
        },
        // An emulator on a port, over plain HTTP.
        Case {
            method: "POST",
            scheme: "http",
            host: "127.0.0.1:5000",
            path: "/",
            query: vec![],
            headers: form(),
            body: describe,
            token: Some("token"),
            region: "ap-southeast-2",
            service: "ec2",
        },
        // Query strings that need encoding: spaces, `/`, `~`, `=`, unicode, repeated keys
        // (sorted by value), an empty value, a key without a value's worth of characters.
        Case {
            method: "GET",
            scheme: "https",
            host: "sts.amazonaws.com",
            path: "/",
            query: pairs(&[
                ("Action", "GetCallerIdentity"),
                ("Version", "2011-06-15"),
                ("tag", "b c"),
                ("tag", "a/b~c"),
                ("tag", "x=y&z"),
                ("name", "Zürich ☃"),
                ("empty", ""),
                ("A~b", "+plus"),
            ]),
            headers: vec![],
            body: String::new(),
            token: Some("session token with spaces"),
            region: "us-east-1",
            service: "sts",
        },
        // A path that needs encoding, headers to trim, and headers botocore never signs.
        Case {
            method: "PUT",
            scheme: "https",
            host: "example.amazonaws.com",
            path: "/a b/ü~x",
            query: pairs(&[("list-type", "2")]),
            headers: pairs(&[
                ("X-Amz-Meta-Note", "  several   spaces  "),
                ("User-Agent", "carbonaut/0.1"),
                ("X-Amzn-Trace-Id", "Root=1"),
            ]),
            body: "{\"a\": 1}".to_owned(),
            token: None,
            region: "eu-central-1",
            service: "execute-api",
        },
    ]
}

const AMZ_DATE: &str = "20261206T142000Z";

#[test]
fn signatures_equal_botocores() {
    let credentials = |token: Option<&str>| Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(str::to_owned),
    };
    let cases = cases();
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "method": c.method, "scheme": c.scheme, "host": c.host, "path": c.path,
                "query": c.query, "headers": c.headers, "body": c.body,
                "access_key_id": "AKIDEXAMPLE",
                "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "session_token": c.token, "region": c.region, "service": c.service,
                "amz_date": AMZ_DATE,
            })
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/botocore_sign.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::from(input).to_string().as_bytes())
        .expect("write the cases");
    let out = child.wait_with_output().expect("botocore_sign.py");
    assert!(
        out.status.success(),
        "botocore_sign.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(answers.len(), cases.len());
    for (case, botocore) in cases.iter().zip(&answers) {
        // botocore signs the Content-Type it is given; our client sends it the same way.
        let signed = sign(
            &Unsigned {
                method: case.method,
                host: case.host,
                path: case.path,
                query: &case.query,
                headers: &case.headers,
                body: case.body.as_bytes(),
            },
            &credentials(case.token),
            case.region,
            case.service,
            AMZ_DATE,
        );
        let what = format!("{} {}{}", case.method, case.host, case.path);
        assert_eq!(
            signed.canonical_request, botocore["canonical_request"],
            "canonical request of {what}"
        );
        assert_eq!(
            signed.string_to_sign, botocore["string_to_sign"],
            "string to sign of {what}"
        );
        assert_eq!(
            signed.authorization, botocore["authorization"],
            "Authorization of {what} (botocore {})",
            botocore["botocore"]
        );
    }
}
