//! Settings checked against what the plugins declare (`plugin-metadata.settings`): a key no
//! plugin of its provider (or, for an account, of its two providers) declares is refused with
//! the closest declared key, and a key a plugin marks `required` must be set on the provider or
//! on every account that uses it. A plugin that takes keys it cannot list (labels, per-country
//! values) declares a spec with the key [`FREE_FORM_KEY`]; then no key of it is refused.

use std::collections::BTreeMap;

use carbonaut_model::SettingSpec;

use super::Config;
use super::error::{Position, Report, list};
use super::suggest::closest;
use carbonaut_model::PluginDeclaration;

/// The key of a setting spec that says "any other key is mine too". Contract 0.2.0 has no
/// field for it, so it is a spec convention; `*` is no key an operator writes (TOML needs it
/// quoted), and a host that does not know the convention shows it as one more setting.
pub const FREE_FORM_KEY: &str = "*";

/// One plugin's specs, as the check reads them.
struct Declared<'a> {
    plugin: &'a str,
    specs: &'a [SettingSpec],
}

impl Declared<'_> {
    fn free_form(&self) -> bool {
        self.specs.iter().any(|s| s.key == FREE_FORM_KEY)
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.specs
            .iter()
            .map(|s| s.key.as_str())
            .filter(|k| *k != FREE_FORM_KEY)
    }

    fn declares(&self, key: &str) -> bool {
        self.free_form() || self.keys().any(|k| k == key)
    }

    fn required(&self) -> impl Iterator<Item = &str> {
        self.specs
            .iter()
            .filter(|s| s.required && s.key != FREE_FORM_KEY)
            .map(|s| s.key.as_str())
    }
}

pub(super) fn check(
    config: &Config,
    catalogue: &BTreeMap<String, PluginDeclaration>,
    report: &mut Report,
) {
    let positions = &config.positions;
    let declared = |provider: &str| -> Option<Declared<'_>> {
        let plugin = &config.providers.get(provider)?.plugin;
        let facts = catalogue.get(plugin)?;
        Some(Declared {
            plugin,
            specs: &facts.settings,
        })
    };

    for (name, provider) in &config.providers {
        let Some(plugin) = declared(name) else {
            continue; // not loaded: reported by the catalogue check
        };
        let keys = positions.provider_settings.get(name);
        for key in provider.settings.keys() {
            if plugin.declares(key) {
                continue;
            }
            report.push(
                key_position(keys, key, position(&positions.provider_plugin, name)),
                format!(
                    "provider `{name}` sets `{key}`, which its plugin `{}` does not declare",
                    plugin.plugin
                ),
                fix(key, &[&plugin]),
            );
        }
    }

    for (name, account) in &config.accounts {
        let providers = [&account.discovery, &account.resource_metrics];
        let plugins: Vec<Declared<'_>> =
            providers.into_iter().filter_map(|p| declared(p)).collect();
        // A key may belong to the plugin that is not loaded; the catalogue check reports that
        // one. Judging the key by the other plugin alone would refuse every reload after a
        // plugin's file is deleted, and keep the deleted plugin listed.
        if plugins.len() < providers.len() {
            continue;
        }
        let keys = positions.account_settings.get(name);
        for key in account.settings.keys() {
            if plugins.iter().any(|p| p.declares(key)) {
                continue;
            }
            let names: Vec<&str> = plugins.iter().map(|p| p.plugin).collect();
            report.push(
                key_position(keys, key, position(&positions.account_discovery, name)),
                format!(
                    "account `{name}` sets `{key}`, which neither of its plugins ({}) declares",
                    list(names)
                ),
                fix(key, &plugins.iter().collect::<Vec<_>>()),
            );
        }
    }

    // Required keys: on the provider, or on each account that uses it.
    for (name, provider) in &config.providers {
        let Some(plugin) = declared(name) else {
            continue;
        };
        for key in plugin.required() {
            if provider.settings.get(key).is_some() {
                continue;
            }
            let set_it =
                format!("set it in [providers.{name}] settings (`plugin inspect` describes it)");
            let mut users = 0;
            for (account, a) in &config.accounts {
                let at = if a.discovery == *name {
                    position(&positions.account_discovery, account)
                } else if a.resource_metrics == *name {
                    position(&positions.account_resource_metrics, account)
                } else {
                    continue;
                };
                users += 1;
                if a.settings.get(key).is_none() {
                    report.push(
                        at,
                        format!(
                            "account `{account}` uses provider `{name}`, whose plugin `{}` \
                             requires setting `{key}`, and neither sets it",
                            plugin.plugin
                        ),
                        format!("{set_it} or in [accounts.{account}] settings"),
                    );
                }
            }
            let environment = config
                .environment
                .as_ref()
                .is_some_and(|e| e.provider == *name);
            if environment || users == 0 {
                report.push(
                    position(&positions.provider_plugin, name),
                    format!(
                        "provider `{name}` leaves out setting `{key}`, which its plugin `{}` \
                         requires",
                        plugin.plugin
                    ),
                    set_it,
                );
            }
        }
    }
}

fn fix(key: &str, plugins: &[&Declared<'_>]) -> String {
    let mut known: Vec<&str> = plugins.iter().flat_map(|p| p.keys()).collect();
    known.sort_unstable();
    known.dedup();
    let declared = if known.is_empty() {
        "it declares no settings".to_owned()
    } else {
        format!("declared: {}", list(known.iter().copied()))
    };
    match closest(key, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`? ({declared})"),
        None => format!("remove it ({declared})"),
    }
}

fn key_position(keys: Option<&BTreeMap<String, Position>>, key: &str, or: Position) -> Position {
    keys.and_then(|k| k.get(key)).copied().unwrap_or(or)
}

fn position(positions: &BTreeMap<String, Position>, name: &str) -> Position {
    positions.get(name).copied().unwrap_or(Position::START)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use carbonaut_model::ProviderKind;

    fn spec(key: &str, required: bool) -> SettingSpec {
        SettingSpec {
            key: key.into(),
            description: String::new(),
            required,
            secret: false,
        }
    }

    fn catalogue(grid_specs: Vec<SettingSpec>) -> BTreeMap<String, PluginDeclaration> {
        BTreeMap::from([
            (
                "mock-cloud".to_owned(),
                PluginDeclaration {
                    kinds: vec![ProviderKind::Discovery],
                    settings: vec![spec("projects", false), spec("token", true)],
                },
            ),
            (
                "mock-meter".to_owned(),
                PluginDeclaration {
                    kinds: vec![ProviderKind::ResourceMetrics],
                    settings: vec![spec("mode", false)],
                },
            ),
            (
                "grid".to_owned(),
                PluginDeclaration {
                    kinds: vec![ProviderKind::Environment],
                    settings: grid_specs,
                },
            ),
        ])
    }

    fn check(text: &str, grid_specs: Vec<SettingSpec>) -> Result<(), String> {
        let config =
            Config::parse(text, "x.toml", Path::new("/etc"), &|_| None).expect("the config parses");
        config
            .check_plugins(&catalogue(grid_specs))
            .map_err(|e| e.to_string())
    }

    const CONFIG: &str = r#"[paths]
plugin_dir = "plugins"
state_dir = "state"

[providers.cloud]
plugin = "mock-cloud"
settings = { projects = 2, token = "t" }
[providers.meter]
plugin = "mock-meter"
settings = { mode = "counter" }
[providers.grid]
plugin = "grid"
settings = { api_token = "x" }

[environment]
provider = "grid"

[accounts.acme]
discovery = "cloud"
resource_metrics = "meter"
settings = { projects = 3 }
"#;

    fn grid() -> Vec<SettingSpec> {
        vec![spec("api_token", true), spec("base_url", false)]
    }

    #[test]
    fn declared_settings_pass() {
        assert_eq!(check(CONFIG, grid()), Ok(()));
    }

    #[test]
    fn a_misspelt_key_is_refused_at_its_position_with_the_closest_declared_one() {
        let text = CONFIG.replace("{ mode = ", "{ mdoe = ");
        assert_eq!(
            check(&text, grid()).expect_err("refused"),
            "x.toml:10:14: provider `meter` sets `mdoe`, which its plugin `mock-meter` does not \
             declare; did you mean `mode`? (declared: mode)"
        );
        let text = CONFIG.replace("{ projects = 3 }", "{ projects = 3, colour = \"red\" }");
        assert_eq!(
            check(&text, grid()).expect_err("refused"),
            "x.toml:21:28: account `acme` sets `colour`, which neither of its plugins \
             (mock-cloud, mock-meter) declares; remove it (declared: mode, projects, token)"
        );
    }

    #[test]
    fn a_required_key_left_out_is_refused_where_the_provider_is_used() {
        let text = CONFIG.replace("settings = { api_token = \"x\" }\n", "");
        assert_eq!(
            check(&text, grid()).expect_err("refused"),
            "x.toml:12:10: provider `grid` leaves out setting `api_token`, which its plugin \
             `grid` requires; set it in [providers.grid] settings (`plugin inspect` describes it)"
        );
        // On the account instead of the provider: enough.
        let text = CONFIG
            .replace(", token = \"t\" }", " }")
            .replace("{ projects = 3 }", "{ projects = 3, token = \"a\" }");
        assert_eq!(check(&text, grid()), Ok(()));
        let text = CONFIG.replace(", token = \"t\" }", " }");
        assert_eq!(
            check(&text, grid()).expect_err("refused"),
            "x.toml:19:13: account `acme` uses provider `cloud`, whose plugin `mock-cloud` \
             requires setting `token`, and neither sets it; set it in [providers.cloud] settings \
             (`plugin inspect` describes it) or in [accounts.acme] settings"
        );
    }

    /// A removed plugin (deleted through the API, or its file gone) must not make its account's
    /// keys look undeclared: the plugin that declares them is missing, which the catalogue
    /// check reports. Refusing here rolled every later reload back, the removed file with it.
    #[test]
    fn an_account_key_of_a_plugin_that_is_not_loaded_is_not_judged() {
        let config = Config::parse(CONFIG, "x.toml", Path::new("/etc"), &|_| None)
            .expect("the config parses");
        let mut without_cloud = catalogue(grid());
        without_cloud.remove("mock-cloud");
        let mut report = Report::new(&config.source);
        super::check(&config, &without_cloud, &mut report);
        assert_eq!(report.finish(()).map_err(|e| e.to_string()), Ok(()));
    }

    #[test]
    fn a_free_form_spec_accepts_any_key() {
        let text = CONFIG.replace(
            "{ api_token = \"x\" }",
            "{ api_token = \"x\", FR = \"56\" }",
        );
        assert!(check(&text, grid()).is_err());
        let mut free = grid();
        free.push(spec(FREE_FORM_KEY, true));
        assert_eq!(check(&text, free), Ok(()));
    }
}
