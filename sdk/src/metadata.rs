//! The plugin author's view of `plugin-metadata`: everything but the provider kinds, which
//! `export!` fills in from the kinds it names so the two can never disagree.

use crate::bindings::base::carbonaut::provider::types::CapabilityNeeds;
use crate::{PluginMetadata, ProviderKind, SettingSpec};

/// Name, version, description, accepted settings and needed capabilities of a plugin.
#[derive(Debug, Clone)]
pub struct Metadata {
    name: String,
    version: String,
    description: String,
    settings: Vec<SettingSpec>,
    needs: CapabilityNeeds,
}

impl Metadata {
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Metadata {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            settings: Vec::new(),
            needs: CapabilityNeeds {
                http: Vec::new(),
                read_only_dirs: Vec::new(),
                key_value: false,
            },
        }
    }

    /// Asks for outgoing HTTP to `origin` (`https://api.example.com`, `https://*.example.com`,
    /// or `*` for whatever the operator allows, when the server comes from a setting). The
    /// operator must also allow it in the provider's `allow_http`.
    pub fn needs_http(mut self, origin: &str) -> Self {
        self.needs.http.push(origin.to_owned());
        self
    }

    /// Asks to read the directory the guest sees at `guest_path` (for example
    /// `/sys/class/powercap`). The operator maps a host directory there in `read_only_dirs`.
    pub fn needs_read_only_dir(mut self, guest_path: &str) -> Self {
        self.needs.read_only_dirs.push(guest_path.to_owned());
        self
    }

    /// Asks for the key-value store (see [`crate::kv`]); the operator grants it with
    /// `key_value = true`.
    pub fn needs_key_value(mut self) -> Self {
        self.needs.key_value = true;
        self
    }

    /// Declares a setting the plugin reads.
    pub fn setting(mut self, key: &str, description: &str, required: bool) -> Self {
        self.settings.push(SettingSpec {
            key: key.to_owned(),
            description: description.to_owned(),
            required,
            secret: false,
        });
        self
    }

    /// Declares a credential: the host never logs it nor returns it from an API.
    pub fn secret_setting(mut self, key: &str, description: &str, required: bool) -> Self {
        self.settings.push(SettingSpec {
            key: key.to_owned(),
            description: description.to_owned(),
            required,
            secret: true,
        });
        self
    }

    /// Accepts setting keys it cannot list in advance (per-country values, extra labels).
    /// The host refuses a config's setting keys that the plugin does not declare; this
    /// declares the spec `*`, which the host reads as "any other key too" (a convention since
    /// contract 0.2.0, which has no field for it). Say in `description` what such keys mean.
    pub fn free_form_settings(self, description: &str) -> Self {
        self.setting("*", description, false)
    }

    #[doc(hidden)]
    pub fn into_wit(self, kinds: Vec<ProviderKind>) -> PluginMetadata {
        PluginMetadata {
            name: self.name,
            version: self.version,
            description: self.description,
            kinds,
            settings: self.settings,
            needs: self.needs,
        }
    }
}
