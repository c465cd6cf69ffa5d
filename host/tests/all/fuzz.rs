//! Property tests with a seeded generator (repeatable, no extra dependency): mutated configs
//! never panic the parser and every error points inside the file; random API requests never
//! get a 500 nor panic a handler.

use std::path::Path;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

use carbonaut::api::app;
use carbonaut::config::{Config, ConfigError};

use crate::collection::harness;
use crate::support::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const QUICKSTART: &str = include_str!("../../../examples/quickstart.toml");
const PIECES: &[&str] = &[
    "[", "]", "=", "\"", "{", "}", ",", "\n", "#", "${", "}", "x", "0", "-1", "[[", "]]", ".", "'",
    "\\", "é", "\u{0}",
];

#[test]
fn mutated_configs_are_refused_with_positions_inside_the_file() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..3000 {
        let mut text = QUICKSTART.to_owned();
        for _ in 0..1 + rng.below(4) {
            let mut at = rng.below(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match rng.below(3) {
                0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
                1 => {
                    let mut end = (at + 1 + rng.below(8)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                }
                _ => {
                    let mut end = (at + 1).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, PIECES[rng.below(PIECES.len())]);
                }
            }
        }
        let lines = text.lines().count() + 1;
        if let Err(errors) = Config::parse(&text, "x.toml", Path::new("."), &|_| None) {
            for error in errors.iter() {
                let ConfigError::Invalid { .. } = error else {
                    panic!("unexpected error kind: {error}")
                };
                let position = error.position().expect("a position");
                assert!(
                    position.line >= 1 && position.line <= lines,
                    "line {} of {lines}: {error}\n{text}",
                    position.line
                );
                assert!(error.to_string().starts_with("x.toml:"), "{error}");
            }
        }
    }
}

#[tokio::test]
async fn random_requests_never_fail_the_server() {
    let h = harness(
        "[providers.cloud]\nplugin = \"mock-cloud\"\n[providers.meter]\nplugin = \"mock-meter\"\n\
         [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
        &[MOCK_CLOUD, MOCK_METER],
    )
    .await;
    let segments = [
        "api",
        "v1",
        "topology",
        "resources",
        "plugins",
        "status",
        "reloads",
        "%2F..",
        "..",
        "mock-cloud",
        "x",
        "",
        "%00",
        "enable",
        "openapi.json",
    ];
    let queries = [
        "",
        "?account=a",
        "?label=",
        "?label==",
        "?label=a=b=c",
        "?project=%ff",
        "?account",
        "?x=1&x=2",
        "?label=%E2%82",
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let depth = 1 + rng.below(5);
        let path: Vec<&str> = (0..depth)
            .map(|_| segments[rng.below(segments.len())])
            .collect();
        let uri = format!("/{}{}", path.join("/"), queries[rng.below(queries.len())]);
        let method = methods[rng.below(methods.len())];
        let Ok(request) = Request::builder()
            .method(method)
            .uri(&uri)
            .body(Body::empty())
        else {
            continue;
        };
        let response = app(h.state.clone())
            .oneshot(request)
            .await
            .expect("response");
        assert!(
            response.status().as_u16() < 500 || response.status().as_u16() == 503,
            "{method} {uri}: {}",
            response.status()
        );
    }
}
