//! Why collecting from a provider got no answer: its plugin's call failed ([`CallError`]), or
//! the collector did not call at all, because the provider is backing off after failures or
//! its plugin is down. The last two are the collector's own decisions, so they live here and
//! not among the plugin's errors.

use carbonaut_model::ProviderError;
use carbonaut_plugins::CallError;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(
        "provider `{provider}` (plugin {plugin}) is degraded after {failures} failed calls; next try in {retry_in_ms} ms"
    )]
    Backoff {
        provider: String,
        plugin: String,
        failures: u32,
        retry_in_ms: u64,
    },
    #[error("plugin {plugin} is down: {reason}")]
    PluginDown { plugin: String, reason: String },
}

impl Failure {
    /// A short, bounded label for metrics: a [`CallError::reason`], `backoff` or `plugin-down`.
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Call(error) => error.reason(),
            Failure::Backoff { .. } => "backoff",
            Failure::PluginDown { .. } => "plugin-down",
        }
    }

    /// The guest's own error, when the plugin returned one.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            Failure::Call(error) => error.provider_error(),
            _ => None,
        }
    }
}
