//! AWS Signature Version 4, as botocore's `SigV4Auth` computes it: the canonical request, the
//! string to sign, the derived key and the `Authorization` header. Pure functions of the
//! request, the credentials and the time, so the tests compare them byte for byte with
//! botocore's (`botocore_tests.rs`) and with the examples of AWS's documentation.
//!
//! Only what the plugin sends is covered: a path without `.` or `..` segments (botocore
//! removes those first), query parameters as raw pairs (encoded here), headers given once each,
//! and a body whose SHA-256 is signed (never `UNSIGNED-PAYLOAD`).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Access key, secret key and, for temporary credentials, the session token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// A request to sign. `host` is the authority exactly as it is sent (with the port when it is
/// not the scheme's default).
#[derive(Debug, Clone)]
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// Raw (not yet encoded) query parameters, in any order; repeated keys allowed.
    pub query: &'a [(String, String)],
    /// Headers other than `host`, `x-amz-date` and `x-amz-security-token` (added here).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// What signing produced: the headers to add to the request, and the intermediate texts for
/// tests and debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub authorization: String,
    /// `x-amz-date`, `x-amz-security-token` (when there is a token) and `authorization`.
    pub headers: Vec<(String, String)>,
}

/// Signs `request` for `service` in `region` at `amz_date` (`20150830T123600Z`).
pub fn sign(
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Signed {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), trim_all(v)))
        .filter(|(k, _)| !UNSIGNED_HEADERS.contains(&k.as_str()))
        .collect();
    headers.push(("host".into(), request.host.to_ascii_lowercase()));
    headers.push(("x-amz-date".into(), amz_date.into()));
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), trim_all(token)));
    }
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        encode(request.path, "/~"),
        canonical_query(request.query),
        canonical_headers,
        signed_headers,
        hex(&Sha256::digest(request.body)),
    );
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date,
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex(&hmac(&key, &string_to_sign));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}",
        credentials.access_key_id
    );
    let mut added = vec![("x-amz-date".to_owned(), amz_date.to_owned())];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    added.push(("authorization".to_owned(), authorization.clone()));
    Signed {
        canonical_request,
        string_to_sign,
        authorization,
        headers: added,
    }
}

/// Headers botocore never signs (`SIGNED_HEADERS_BLACKLIST`): a proxy may change them.
const UNSIGNED_HEADERS: &[&str] = &[
    "baggage",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// Each parameter encoded, sorted by encoded key and then by encoded value.
fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (encode(k, ""), encode(v, "")))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A query string (or form body) of `pairs` in the given order, encoded as [`sign`] expects.
pub fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, ""), encode(v, "")))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes UTF-8 bytes: RFC 3986's unreserved characters and those of `safe` stay.
pub fn encode(text: &str, safe: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || safe.as_bytes().contains(&byte)
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Leading and trailing spaces removed, runs of whitespace made one space.
fn trim_all(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], message: &str) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The example of AWS's "Create a signed AWS API request" page (IAM ListUsers, GET,
    /// us-east-1), whose canonical request and signature the page prints.
    #[test]
    fn the_documented_iam_example() {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let headers = pairs(&[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )]);
        let query = pairs(&[("Action", "ListUsers"), ("Version", "2010-05-08")]);
        let signed = sign(
            &Unsigned {
                method: "GET",
                host: "iam.amazonaws.com",
                path: "/",
                query: &query,
                headers: &headers,
                body: b"",
            },
            &credentials,
            "us-east-1",
            "iam",
            "20150830T123600Z",
        );
        assert_eq!(
            signed.canonical_request,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
             content-type:application/x-www-form-urlencoded; charset=utf-8\n\
             host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             content-type;host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn the_query_is_encoded_and_sorted_by_key_then_value() {
        let query = pairs(&[("b", "2"), ("a b", "x/y"), ("b", "1"), ("é", "~=")]);
        assert_eq!(canonical_query(&query), "%C3%A9=~%3D&a%20b=x%2Fy&b=1&b=2");
        assert_eq!(query_string(&query), "b=2&a%20b=x%2Fy&b=1&%C3%A9=~%3D");
    }

    #[test]
    fn a_session_token_is_signed_and_sent() {
        let credentials = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token".into()),
        };
        let signed = sign(
            &Unsigned {
                method: "post",
                host: "EC2.us-east-1.amazonaws.com",
                path: "/",
                query: &[],
                headers: &pairs(&[("User-Agent", "carbonaut"), ("X-Extra", "  a   b ")]),
                body: b"Action=DescribeRegions",
            },
            &credentials,
            "us-east-1",
            "ec2",
            "20261206T120000Z",
        );
        assert!(
            signed.canonical_request.contains(
                "host:ec2.us-east-1.amazonaws.com\nx-amz-date:20261206T120000Z\n\
                 x-amz-security-token:token\nx-extra:a b\n\n\
                 host;x-amz-date;x-amz-security-token;x-extra\n"
            ),
            "{}",
            signed.canonical_request
        );
        let names: Vec<&str> = signed.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["x-amz-date", "x-amz-security-token", "authorization"]
        );
    }
}
