//! `examples/mtls-jwt.toml` passes `carbonaut check-config` once its certificate, CA and JWKS
//! files exist, and fails naming the JWKS file while it is missing.

use super::pki::{Ca, SigningKey, jwks};
use crate::support::plugin_dir;

fn check(with_jwks: bool) -> (bool, String) {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mtls-jwt.toml");
    let text = std::fs::read_to_string(&example).expect("the example");
    let line = "plugin_dir = \"../target/plugins\"";
    assert!(text.contains(line));
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = format!("plugin_dir = {:?}", plugin_dir().display().to_string());
    std::fs::write(
        dir.path().join("mtls-jwt.toml"),
        text.replace(line, &plugins),
    )
    .expect("write");
    std::fs::create_dir(dir.path().join("tls")).expect("tls dir");
    let ca = Ca::new("example CA");
    ca.server().write(&dir.path().join("tls"), "server");
    std::fs::write(dir.path().join("tls/client-ca.pem"), ca.pem()).expect("ca");
    if with_jwks {
        let key = SigningKey::es256("k1");
        std::fs::write(dir.path().join("jwks.json"), jwks(&[&key])).expect("jwks");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .arg("check-config")
        .arg(dir.path().join("mtls-jwt.toml"))
        .output()
        .expect("check-config");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_mtls_and_jwt_example_passes_check_config() {
    let (ok, out) = check(true);
    assert!(ok, "{out}");
    let (ok, out) = check(false);
    assert!(!ok);
    assert!(
        out.contains("jwks_file") && out.contains("jwks.json"),
        "{out}"
    );
}
