//! `carbonaut plugin keygen` and `carbonaut plugin sign`: a minisign key pair for an operator
//! or a plugin author, and `X.wasm.minisig` beside a plugin. The files are minisign's own, so
//! `minisign -G` keys and `minisign -S` signatures work as well.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use carbonaut_plugins::trust::{SIGNATURE_SUFFIX, generate_key_pair, sign_file};

/// The password of an encrypted key, from the environment variable `var` (never from the
/// command line, where other users could read it).
fn password(var: Option<&str>) -> anyhow::Result<Option<String>> {
    var.map(|v| {
        std::env::var(v).with_context(|| format!("the environment variable {v} is not set"))
    })
    .transpose()
}

pub fn keygen(out: &Path, password_env: Option<&str>) -> anyhow::Result<ExitCode> {
    let public = with_suffix(out, ".pub");
    let secret = with_suffix(out, ".key");
    for file in [&public, &secret] {
        anyhow::ensure!(
            !file.exists(),
            "{} exists; choose another --out or move it away (a key is never overwritten)",
            file.display()
        );
    }
    let pair = generate_key_pair(password(password_env)?)?;
    std::fs::write(&public, &pair.public)
        .with_context(|| format!("cannot write {}", public.display()))?;
    write_secret(&secret, &pair.secret)?;
    println!(
        "key {id}: public key {pub_file}, secret key {key_file} (keep it private{enc})\n\
         trust it in the config with:\n\n[trust]\nkeys = [\"{line}\"]",
        id = pair.id,
        pub_file = public.display(),
        key_file = secret.display(),
        enc = if password_env.is_some() {
            ", encrypted with the password"
        } else {
            "; it is not encrypted"
        },
        line = pair.public_line(),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn sign(key: &Path, file: &Path, password_env: Option<&str>) -> anyhow::Result<ExitCode> {
    let secret = std::fs::read_to_string(key)
        .with_context(|| format!("cannot read the secret key {}", key.display()))?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let signature = sign_file(&secret, password(password_env)?, &bytes, &name)
        .with_context(|| format!("cannot sign {} with {}", file.display(), key.display()))?;
    let out = with_suffix(file, SIGNATURE_SUFFIX);
    std::fs::write(&out, signature).with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Readable by its owner only.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}
