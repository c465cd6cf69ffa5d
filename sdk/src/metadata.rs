//! The plugin author's view of `plugin-metadata`: everything but the provider kinds, which
//! `export!` fills in from the kinds it names so the two can never disagree.

use crate::{PluginMetadata, ProviderKind, SettingSpec};

/// Name, version, description and accepted settings of a plugin.
#[derive(Debug, Clone)]
pub struct Metadata {
    name: String,
    version: String,
    description: String,
    settings: Vec<SettingSpec>,
}

impl Metadata {
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Metadata {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            settings: Vec::new(),
        }
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

    #[doc(hidden)]
    pub fn into_wit(self, kinds: Vec<ProviderKind>) -> PluginMetadata {
        PluginMetadata {
            name: self.name,
            version: self.version,
            description: self.description,
            kinds,
            settings: self.settings,
        }
    }
}
