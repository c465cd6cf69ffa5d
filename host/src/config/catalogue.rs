//! Checks a config against the plugins actually loaded: every provider's plugin exists, and
//! implements each kind it is used for, and the settings are those the plugins declare
//! (`declared`). Errors point at the offending value in the file.

use std::collections::BTreeMap;

use carbonaut_model::{PluginDeclaration, ProviderKind};

use super::Config;
use super::error::{ConfigErrors, Position, Report, list};

pub(super) fn check(
    config: &Config,
    catalogue: &BTreeMap<String, PluginDeclaration>,
) -> Result<(), ConfigErrors> {
    let mut report = Report::new(&config.source);
    let positions = &config.positions;
    let plugin_dir = config.plugin_dir.display();

    for (name, provider) in &config.providers {
        if catalogue.contains_key(&provider.plugin) {
            continue;
        }
        let fix = if catalogue.is_empty() {
            format!(
                "no plugins were loaded from {plugin_dir}; build or copy plugin .wasm files there"
            )
        } else {
            format!(
                "use one of: {}, or add a plugin named `{}` to {plugin_dir}",
                list(catalogue.keys().map(String::as_str)),
                provider.plugin
            )
        };
        report.push(
            position(&positions.provider_plugin, name),
            format!(
                "provider `{name}` uses plugin `{}`, which is not loaded",
                provider.plugin
            ),
            fix,
        );
    }

    let mut uses = Vec::new();
    for (name, account) in &config.accounts {
        let user = format!("account `{name}`");
        uses.push((
            user.clone(),
            &account.discovery,
            ProviderKind::Discovery,
            position(&positions.account_discovery, name),
        ));
        uses.push((
            user,
            &account.resource_metrics,
            ProviderKind::ResourceMetrics,
            position(&positions.account_resource_metrics, name),
        ));
    }
    if let Some(environment) = &config.environment {
        uses.push((
            "[environment]".to_owned(),
            &environment.provider,
            ProviderKind::Environment,
            positions.environment_provider.unwrap_or(Position::START),
        ));
        if let Some(forecast) = &environment.forecast {
            uses.push((
                "[environment] forecast".to_owned(),
                forecast,
                ProviderKind::Environment,
                positions.forecast_provider.unwrap_or(Position::START),
            ));
        }
    }
    if let Some(estimation) = &config.footprint.estimation {
        uses.push((
            "[footprint]".to_owned(),
            estimation,
            ProviderKind::Estimation,
            positions.estimation_provider.unwrap_or(Position::START),
        ));
    }

    for (user, provider, kind, at) in uses {
        // Undefined providers and missing plugins are reported once, above or at parse time.
        let Some(plugin) = config.providers.get(provider).map(|p| &p.plugin) else {
            continue;
        };
        let Some(kinds) = catalogue.get(plugin).map(|p| &p.kinds) else {
            continue;
        };
        if kinds.contains(&kind) {
            continue;
        }
        let implemented = list(kinds.iter().map(|k| k.as_str()));
        let able: Vec<&str> = config
            .providers
            .iter()
            .filter(|(_, p)| {
                catalogue
                    .get(&p.plugin)
                    .is_some_and(|k| k.kinds.contains(&kind))
            })
            .map(|(n, _)| n.as_str())
            .collect();
        let fix = if able.is_empty() {
            let plugins: Vec<&str> = catalogue
                .iter()
                .filter(|(_, k)| k.kinds.contains(&kind))
                .map(|(n, _)| n.as_str())
                .collect();
            if plugins.is_empty() {
                format!("no loaded plugin implements {kind}; add one to {plugin_dir}")
            } else {
                format!(
                    "define a provider with a plugin that implements {kind}: {}",
                    list(plugins)
                )
            }
        } else {
            format!(
                "use a provider whose plugin implements {kind}: {}",
                list(able)
            )
        };
        report.push(
            at,
            format!(
                "{user} uses provider `{provider}` for {kind}, but its plugin `{plugin}` \
                 does not implement {kind} (it implements {implemented})"
            ),
            fix,
        );
    }
    super::declared::check(config, catalogue, &mut report);
    report.finish(())
}

/// Only the settings half of [`check`]: what a replaced plugin file must still agree with
/// when the config itself did not change.
pub(super) fn check_settings(
    config: &Config,
    catalogue: &BTreeMap<String, PluginDeclaration>,
) -> Result<(), ConfigErrors> {
    let mut report = Report::new(&config.source);
    super::declared::check(config, catalogue, &mut report);
    report.finish(())
}

fn position(positions: &BTreeMap<String, Position>, name: &str) -> Position {
    positions.get(name).copied().unwrap_or(Position::START)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CONFIG: &str = r#"[paths]
plugin_dir = "plugins"
state_dir = "state"

[providers.cloud]
plugin = "mock-cloud"
[providers.meter]
plugin = "mock-meter"
[providers.grid]
plugin = "mock-grid"

[environment]
provider = "cloud"

[accounts.acme]
discovery = "meter"
resource_metrics = "meter"
"#;

    fn config(text: &str) -> Config {
        Config::parse(text, "x.toml", Path::new("/etc/carbonaut"), &|_| None)
            .expect("the config is valid")
    }

    fn mocks() -> BTreeMap<String, PluginDeclaration> {
        let kinds = |kind| PluginDeclaration {
            kinds: vec![kind],
            settings: vec![],
        };
        BTreeMap::from([
            ("mock-cloud".to_owned(), kinds(ProviderKind::Discovery)),
            (
                "mock-meter".to_owned(),
                kinds(ProviderKind::ResourceMetrics),
            ),
            ("mock-grid".to_owned(), kinds(ProviderKind::Environment)),
        ])
    }

    fn errors(text: &str, catalogue: &BTreeMap<String, PluginDeclaration>) -> String {
        config(text)
            .check_plugins(catalogue)
            .expect_err("the config does not match the plugins")
            .to_string()
    }

    #[test]
    fn providers_used_for_a_kind_their_plugin_lacks_are_refused() {
        assert_eq!(
            errors(CONFIG, &mocks()),
            "x.toml:13:12: [environment] uses provider `cloud` for environment, but its plugin \
             `mock-cloud` does not implement environment (it implements discovery); \
             use a provider whose plugin implements environment: grid\n\
             x.toml:16:13: account `acme` uses provider `meter` for discovery, but its plugin \
             `mock-meter` does not implement discovery (it implements resource-metrics); \
             use a provider whose plugin implements discovery: cloud"
        );
    }

    #[test]
    fn plugins_that_are_not_loaded_are_refused_with_the_loaded_ones_listed() {
        let text = CONFIG
            .replace("\"mock-cloud\"", "\"mock-clod\"")
            .replace("provider = \"cloud\"", "provider = \"grid\"")
            .replace("discovery = \"meter\"", "discovery = \"cloud\"");
        assert_eq!(
            errors(&text, &mocks()),
            "x.toml:6:10: provider `cloud` uses plugin `mock-clod`, which is not loaded; \
             use one of: mock-cloud, mock-grid, mock-meter, or add a plugin named `mock-clod` \
             to /etc/carbonaut/plugins"
        );
        assert!(errors(&text, &BTreeMap::new()).starts_with(
            "x.toml:6:10: provider `cloud` uses plugin `mock-clod`, which is not loaded; \
                 no plugins were loaded from /etc/carbonaut/plugins; \
                 build or copy plugin .wasm files there\n"
        ));
    }

    #[test]
    fn a_kind_no_provider_offers_names_the_plugins_that_do() {
        let text = CONFIG
            .replace("provider = \"cloud\"", "provider = \"grid\"")
            .replace("[providers.cloud]\nplugin = \"mock-cloud\"\n", "");
        assert_eq!(
            errors(&text, &mocks()),
            "x.toml:14:13: account `acme` uses provider `meter` for discovery, but its plugin \
             `mock-meter` does not implement discovery (it implements resource-metrics); \
             define a provider with a plugin that implements discovery: mock-cloud"
        );
    }
}
