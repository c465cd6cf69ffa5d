//! Making keys and signatures for operators and tests (`carbonaut plugin keygen` and `plugin
//! sign`). The files are minisign's own formats, so the `minisign` CLI reads and writes them
//! too.

use super::key_id_of;

/// A key or a signature minisign could not make: what was being done, and minisign's error.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct SigningError {
    step: &'static str,
    source: minisign::PError,
}

/// Adds `step` to a minisign error.
trait Step<T> {
    fn step(self, step: &'static str) -> Result<T, SigningError>;
}

impl<T> Step<T> for Result<T, minisign::PError> {
    fn step(self, step: &'static str) -> Result<T, SigningError> {
        self.map_err(|source| SigningError { step, source })
    }
}

/// A new key pair, as the text of minisign's `.pub` and `.key` files.
pub struct KeyPair {
    pub public: String,
    pub secret: String,
    /// The key ID, as signatures and the API show it.
    pub id: String,
}

impl KeyPair {
    /// The base64 line of the public key: what `[trust] keys` takes.
    pub fn public_line(&self) -> String {
        self.public.lines().nth(1).unwrap_or_default().to_owned()
    }
}

/// Generates a key pair; with a password, the secret key is encrypted with it (scrypt), as
/// minisign does by default.
pub fn generate_key_pair(password: Option<String>) -> Result<KeyPair, SigningError> {
    let pair = match password {
        Some(password) => minisign::KeyPair::generate_encrypted_keypair(Some(password)),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .step("cannot generate a key pair")?;
    let id = key_id_of(pair.pk.keynum());
    let comment = format!("carbonaut plugin signing key {id}");
    Ok(KeyPair {
        public: pair
            .pk
            .to_box()
            .step("cannot encode the public key")?
            .into_string(),
        secret: pair
            .sk
            .to_box(Some(&comment))
            .step("cannot encode the secret key")?
            .into_string(),
        id,
    })
}

/// Signs `bytes` with the secret key in `secret_key` (the text of a minisign `.key` file,
/// decrypted with `password` when it is encrypted) and returns the `.minisig` text. The
/// trusted comment records the file name, as minisign's does.
pub fn sign_file(
    secret_key: &str,
    password: Option<String>,
    bytes: &[u8],
    file_name: &str,
) -> Result<String, SigningError> {
    let boxed =
        minisign::SecretKeyBox::from_string(secret_key).step("not a minisign secret key file")?;
    let key = match password {
        Some(password) => boxed.into_secret_key(Some(password)),
        None => boxed.into_unencrypted_secret_key(),
    }
    .step("cannot open the secret key (an encrypted key needs its password)")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let trusted = format!("timestamp:{now}\tfile:{file_name}\thashed");
    let signature =
        minisign::sign(None, &key, bytes, Some(&trusted), None).step("cannot sign the file")?;
    Ok(signature.into_string())
}
