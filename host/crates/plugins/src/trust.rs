//! Which plugin files the operator trusts: a pinned digest per plugin (`[plugins.NAME]
//! sha256`) and minisign signatures by the keys in `[trust]`. Checked on a file's bytes
//! before anything is compiled or run, at start, at every reload and for every upload, so a
//! replaced or tampered file never runs; where a good version was serving, it still is.

mod policy;
mod signing;

pub use policy::{
    KeyError, SIGNATURE_SUFFIX, TrustError, TrustPolicy, TrustedKey, Verdict, key_id_of,
};
pub use signing::{KeyPair, SigningError, generate_key_pair, sign_file};
