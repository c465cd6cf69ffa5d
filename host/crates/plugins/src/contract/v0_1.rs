//! `carbonaut:provider@0.1.0`, frozen: calls into a component built for it, with its types
//! converted to and from the host's at this boundary. 0.1.0 had no `needs`, so its plugins
//! are granted nothing beyond the sandbox's defaults, whatever a provider's config offers.
//! What 0.3.0 added is none or empty in its answers (see `bridge::raise_to_0_3`). The
//! conversions spell every type out field by field, so a later change to the host's types
//! fails to compile here instead of silently misreading an old plugin.

pub(crate) mod wit;

use wasmtime::component::{HasSelf, Linker};

use super::bridge::Convert;
use super::current;
use super::current as host;
use crate::inspect::WitVersion;
use carbonaut_runtime::{GuestLevel, HostState, RuntimeError};
use wit as old;

pub(super) const VERSION: WitVersion = WitVersion {
    major: 0,
    minor: 1,
    patch: 0,
};

/// 0.1.0's one import, `log@0.1.0`, forwarded to the host's log.
pub(super) fn link(linker: &mut Linker<HostState>) -> Result<(), RuntimeError> {
    old::carbonaut::provider::log::add_to_linker::<HostState, HasSelf<HostState>>(
        linker,
        |state| state,
    )
    .map_err(|e| RuntimeError::new("linking the 0.1.0 log import", e))?;
    Ok(())
}

impl old::carbonaut::provider::log::Host for HostState {
    fn log(
        &mut self,
        level: old::carbonaut::provider::log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) {
        use old::carbonaut::provider::log::Level as Old;
        let level = match level {
            Old::Trace => GuestLevel::Trace,
            Old::Debug => GuestLevel::Debug,
            Old::Info => GuestLevel::Info,
            Old::Warn => GuestLevel::Warn,
            Old::Error => GuestLevel::Error,
        };
        self.guest_log(level, message, fields);
    }
}

super::bridge::old_version_calls!();
super::version_exports!(wit);
super::bridge::raise_to_0_3!(old, host);

/// 0.1.0 metadata had no `needs`: an old plugin asks for nothing, so it is granted nothing.
impl Convert<host::PluginMetadata> for old::PluginMetadata {
    fn convert(self) -> host::PluginMetadata {
        host::PluginMetadata {
            name: self.name,
            version: self.version,
            description: self.description,
            kinds: self.kinds.convert(),
            settings: self.settings.convert(),
            needs: host::CapabilityNeeds {
                http: Vec::new(),
                read_only_dirs: Vec::new(),
                key_value: false,
            },
        }
    }
}
