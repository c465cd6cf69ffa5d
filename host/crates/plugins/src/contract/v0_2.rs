//! `carbonaut:provider@0.2.0`, the current contract: its bindings, the imports it links (log,
//! key-value, forwarded to `carbonaut_runtime::HostState`) and the calls into a component built
//! for it. Its generated types are the current ones, so calls pass through unconverted.

pub(crate) mod wit;

use std::borrow::Cow;

use wasmtime::component::{HasSelf, Linker};

use super::current;
use crate::inspect::WitVersion;
use carbonaut_runtime::{GuestLevel, HostState, RuntimeError, StoreError};
use wit::carbonaut::provider::{key_value, log};

pub(super) const VERSION: WitVersion = WitVersion {
    major: 0,
    minor: 2,
    patch: 0,
};

pub(super) fn link(linker: &mut Linker<HostState>) -> Result<(), RuntimeError> {
    log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
        .map_err(|e| RuntimeError::new("linking the log import", e))?;
    key_value::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
        .map_err(|e| RuntimeError::new("linking the key-value import", e))?;
    Ok(())
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        let level = match level {
            log::Level::Trace => GuestLevel::Trace,
            log::Level::Debug => GuestLevel::Debug,
            log::Level::Info => GuestLevel::Info,
            log::Level::Warn => GuestLevel::Warn,
            log::Level::Error => GuestLevel::Error,
        };
        self.guest_log(level, message, fields);
    }
}

impl key_value::Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, key_value::StoreError> {
        self.key_value()
            .and_then(|ns| ns.get(&key))
            .map_err(wit_error)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), key_value::StoreError> {
        self.key_value()
            .and_then(|ns| ns.set(&key, &value))
            .map_err(wit_error)
    }

    fn delete(&mut self, key: String) -> Result<(), key_value::StoreError> {
        self.key_value()
            .and_then(|ns| ns.delete(&key))
            .map_err(wit_error)
    }
}

fn wit_error(error: StoreError) -> key_value::StoreError {
    match error {
        StoreError::Full(m) => key_value::StoreError::Full(m),
        StoreError::Denied(m) => key_value::StoreError::Denied(m),
        StoreError::Failed(m) => key_value::StoreError::Failed(m),
    }
}

fn lower<T: Clone>(value: &T) -> Cow<'_, T> {
    Cow::Borrowed(value)
}

fn lower_all<T: Clone>(values: &[T]) -> Cow<'_, [T]> {
    Cow::Borrowed(values)
}

fn raise<T>(answer: T) -> T {
    answer
}

super::version_exports!(wit);
