//! What the plugin remembers between calls, in the key-value store (every call is a fresh
//! instance). When the operator did not grant the store the plugin still works, with less:
//! `granted` turns false at the first refusal and the callers degrade.

use carbonaut_sdk::kv::{self, StoreError};
use carbonaut_sdk::{ProviderError, log};

pub struct Memory {
    /// Until the host refuses, the store is assumed granted.
    pub granted: bool,
}

impl Memory {
    /// The text stored under `key`; `None` when absent, not text, or the store is not granted.
    pub fn get(&mut self, key: &str) -> Result<Option<String>, ProviderError> {
        if !self.granted {
            return Ok(None);
        }
        match kv::get(key) {
            Ok(value) => Ok(value.and_then(|v| String::from_utf8(v).ok())),
            Err(StoreError::Denied(_)) => {
                self.granted = false;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ProviderError> {
        if !self.granted {
            return Ok(());
        }
        match kv::set(key, value.as_bytes()) {
            Ok(()) => Ok(()),
            Err(StoreError::Denied(_)) => {
                self.granted = false;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Logs `message` when `state` differs from the one logged last, so a machine without RAPL
    /// says so once rather than at every collection. Without the store nothing can be
    /// remembered, and it is logged every call.
    pub fn say_once(
        &mut self,
        state: &str,
        warn: bool,
        message: &str,
        fields: &[(&str, &str)],
    ) -> Result<(), ProviderError> {
        if self.get("notice")?.as_deref() == Some(state) {
            return Ok(());
        }
        if warn {
            log::warn(message, fields);
        } else {
            log::info(message, fields);
        }
        self.set("notice", state)
    }
}
