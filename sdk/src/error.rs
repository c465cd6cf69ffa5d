//! What the SDK adds to the contract's [`ProviderError`]: saying who asked for what.

use std::fmt::Display;

use crate::{ProviderError, UnavailableError};

impl ProviderError {
    /// The same error, its message prefixed with `context` (`account `a`, project `p`,
    /// compute.instances.list: …`), so the operator reads where it happened.
    pub fn context(self, context: impl Display) -> ProviderError {
        match self {
            ProviderError::BadConfig(m) => ProviderError::BadConfig(format!("{context}: {m}")),
            ProviderError::Unauthorized(m) => {
                ProviderError::Unauthorized(format!("{context}: {m}"))
            }
            ProviderError::Unavailable(u) => ProviderError::Unavailable(UnavailableError {
                message: format!("{context}: {}", u.message),
                retry_after_ms: u.retry_after_ms,
            }),
            ProviderError::Other(m) => ProviderError::Other(format!("{context}: {m}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_prefixes_the_message_and_keeps_the_kind_and_wait() {
        let error = ProviderError::Unavailable(UnavailableError {
            message: "no answer".into(),
            retry_after_ms: Some(5),
        });
        assert_eq!(
            error.context("account `a`"),
            ProviderError::Unavailable(UnavailableError {
                message: "account `a`: no answer".into(),
                retry_after_ms: Some(5),
            })
        );
        assert_eq!(
            ProviderError::BadConfig("x".into()).context("p"),
            ProviderError::BadConfig("p: x".into())
        );
    }
}
