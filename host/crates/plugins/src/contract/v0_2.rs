//! `carbonaut:provider@0.2.0`, frozen: calls into a component built for it, with its types
//! converted to and from the current contract's at this boundary. What 0.3.0 added (a cloud,
//! an instance type and GPUs on a resource, components in a sample, the zone of a mix) is
//! none or empty in a 0.2.0 plugin's answers, and left out of what it is asked.

pub(crate) mod wit;

use super::bridge::Convert;
use super::current;
use super::current as host;
use crate::inspect::WitVersion;
use wit as old;

pub(super) const VERSION: WitVersion = WitVersion {
    major: 0,
    minor: 2,
    patch: 0,
};

super::bridge::log_and_key_value_imports!(wit);
super::bridge::old_version_calls!();
super::version_exports!(wit);
super::bridge::raise_to_0_3!(old, host);

impl Convert<host::PluginMetadata> for old::PluginMetadata {
    fn convert(self) -> host::PluginMetadata {
        host::PluginMetadata {
            name: self.name,
            version: self.version,
            description: self.description,
            kinds: self.kinds.convert(),
            settings: self.settings.convert(),
            needs: host::CapabilityNeeds {
                http: self.needs.http,
                read_only_dirs: self.needs.read_only_dirs,
                key_value: self.needs.key_value,
            },
        }
    }
}
