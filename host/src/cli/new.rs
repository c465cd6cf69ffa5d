//! `carbonaut plugin new NAME --kind KIND[,KIND] --lang rust|python|js [--dir D]`: writes a
//! plugin skeleton that builds as it is, answers sample values for each kind chosen, and says
//! in its README how to build it, check it and configure it. The templates live in
//! `new/{rust,python,js}.rs`; this file validates, fills and writes them.

mod js;
mod python;
mod rust;
mod sdk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use carbonaut_model::ProviderKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Kind {
    /// Lists an account's projects and resources.
    Discovery,
    /// Reads energy, power and CPU figures for resources.
    ResourceMetrics,
    /// Reads the energy mix and carbon intensity of locations.
    Environment,
    /// Power per component and an embodied share from hardware and utilisation (0.3.0).
    Estimation,
}

impl Kind {
    fn provider_kind(self) -> ProviderKind {
        match self {
            Kind::Discovery => ProviderKind::Discovery,
            Kind::ResourceMetrics => ProviderKind::ResourceMetrics,
            Kind::Environment => ProviderKind::Environment,
            Kind::Estimation => ProviderKind::Estimation,
        }
    }

    /// The kebab-case WIT name.
    fn wit(self) -> &'static str {
        self.provider_kind().as_str()
    }
}

/// What the templates are filled with.
pub struct Skeleton {
    pub name: String,
    pub kinds: Vec<Kind>,
    /// For Rust: where carbonaut-sdk comes from.
    pub sdk: SdkSource,
}

/// Where a Rust skeleton's carbonaut-sdk comes from. Once the crate is published, the default
/// becomes a version requirement on crates.io; until then it is a path, to what builds.
pub enum SdkSource {
    /// The SDK embedded in this binary, written into the skeleton's `carbonaut-sdk/`.
    Bundled,
    /// `--sdk-path`: a copy the author has (the repository's `sdk/`, an unpacked `.crate`).
    Path(PathBuf),
}

impl SdkSource {
    /// The value of the skeleton's `carbonaut-sdk` dependency.
    fn dependency(&self) -> String {
        let path = match self {
            SdkSource::Bundled => sdk::DIR.to_owned(),
            SdkSource::Path(path) => path.display().to_string(),
        };
        format!("{{ path = {path:?} }}")
    }
}

/// One file of a skeleton, by its path below the plugin's folder.
pub type File = (String, String);

impl Skeleton {
    fn has(&self, kind: Kind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The WIT world for componentize-py and componentize-js: one export per chosen kind.
    fn world(&self) -> String {
        let exports: String = self
            .kinds
            .iter()
            .map(|k| format!("    export {};\n", k.wit()))
            .collect();
        format!(
            "package carbonaut:provider@{version};\n\n\
             /// The world this plugin implements, written by `carbonaut plugin new`: the host \n\
             /// imports, `metadata`, and one export per provider kind the plugin implements.\n\
             world plugin {{\n    include host-imports;\n    export metadata;\n{exports}}}\n",
            version = carbonaut_plugins::SUPPORTED_WIT,
        )
    }

    /// A complete config that runs this plugin, for the READMEs: paths, the plugin's
    /// provider, an account, and the shipped mock plugins for each kind the plugin lacks (an
    /// account needs discovery and resource metrics; emissions need an environment). An
    /// estimation plugin is the `[footprint]` model; without one the config names none, as
    /// estimation is optional. Every provider it names, it defines.
    fn config(&self) -> String {
        let name = &self.name;
        let mut files: Vec<String> = std::iter::once(name.as_str())
            .chain(self.mocks().into_iter().map(|(_, plugin)| plugin))
            .map(|plugin| format!("{plugin}.wasm"))
            .collect();
        let last = files.pop().unwrap_or_default();
        let files = if files.is_empty() {
            last
        } else {
            format!("{} and {last}", files.join(", "))
        };
        let mut text = format!(
            "[paths]\n\
             plugin_dir = \"plugins\"   # holds {files}\n\
             state_dir = \"state\"\n\n\
             [providers.{name}]\nplugin = \"{name}\"\nsettings = {{ example = \"value\" }}\n"
        );
        for (provider, plugin) in self.mocks() {
            text.push_str(&format!(
                "\n[providers.{provider}]   # a shipped mock, for the kind this plugin lacks\n\
                 plugin = \"{plugin}\"\n"
            ));
        }
        let provider_for = |kind: Kind, mock: &'static str| {
            if self.has(kind) { name.as_str() } else { mock }
        };
        text.push_str(&format!(
            "\n[accounts.my-site]\ndiscovery = \"{}\"\nresource_metrics = \"{}\"\n\
             \n[environment]\nprovider = \"{}\"\n",
            provider_for(Kind::Discovery, "cloud"),
            provider_for(Kind::ResourceMetrics, "meter"),
            provider_for(Kind::Environment, "grid"),
        ));
        if self.has(Kind::Estimation) {
            text.push_str(&format!("\n[footprint]\nestimation = \"{name}\"\n"));
        }
        text
    }

    /// (provider, plugin) of each mock the config needs for a kind this plugin lacks.
    fn mocks(&self) -> Vec<(&'static str, &'static str)> {
        [
            (Kind::Discovery, "cloud", "mock-cloud"),
            (Kind::ResourceMetrics, "meter", "mock-meter"),
            (Kind::Environment, "grid", "mock-grid"),
        ]
        .into_iter()
        .filter(|(kind, _, _)| !self.has(*kind))
        .map(|(_, provider, plugin)| (provider, plugin))
        .collect()
    }

    fn kinds_text(&self) -> String {
        self.kinds
            .iter()
            .map(|k| k.wit())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every file of the skeleton for `lang`.
    pub fn files(&self, lang: Lang) -> Vec<File> {
        match lang {
            Lang::Rust => rust::files(self),
            Lang::Python => python::files(self),
            Lang::Js => js::files(self),
        }
    }
}

/// A plugin name: lower-case ASCII words joined by `-`, as WIT identifiers and configs want.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    anyhow::ensure!(
        ok,
        "`{name}` is not a plugin name: use lower-case words joined by `-`, like `my-grid`"
    );
    Ok(())
}

pub fn run(
    name: &str,
    kinds: &[Kind],
    lang: Lang,
    dir: Option<&Path>,
    sdk_path: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    let mut kinds = kinds.to_vec();
    kinds.sort();
    kinds.dedup();
    anyhow::ensure!(!kinds.is_empty(), "choose at least one --kind");
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        anyhow::ensure!(
            empty,
            "{} exists and is not empty; choose another --dir",
            dir.display()
        );
    }
    let sdk = match sdk_path {
        Some(path) => SdkSource::Path(
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?,
        ),
        None => SdkSource::Bundled,
    };
    let skeleton = Skeleton {
        name: name.to_owned(),
        kinds,
        sdk,
    };
    let mut files = skeleton.files(lang);
    if lang == Lang::Rust && matches!(skeleton.sdk, SdkSource::Bundled) {
        files.extend(sdk::files());
    }
    for (path, text) in &files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        #[cfg(unix)]
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", file.display()))?;
        }
    }
    if lang != Lang::Rust {
        // componentize-py and componentize-js read the contract from the plugin's folder.
        super::wit::write_to(&dir.join("wit"))?;
    }
    println!(
        "wrote a {} plugin `{name}` ({}) to {}; see {} for how to build and check it",
        match lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        },
        skeleton.kinds_text(),
        dir.display(),
        dir.join("README.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The README part every language shares: checking the plugin, and a config that runs it.
fn readme_tail(skeleton: &Skeleton) -> String {
    let name = &skeleton.name;
    let mocks = skeleton.mocks();
    let copy_mocks = if mocks.is_empty() {
        String::new()
    } else {
        let files: Vec<String> = mocks
            .iter()
            .map(|(_, plugin)| format!("\"$CARBONAUT_PLUGINS/{plugin}.wasm\""))
            .collect();
        format!(
            "# the mock plugins ship with carbonaut: /usr/lib/carbonaut/plugins in the Debian \
             package,\n# /plugins in the container image, target/plugins in a source build\n\
             CARBONAUT_PLUGINS=/usr/lib/carbonaut/plugins\n\
             cp {} plugins/\n",
            files.join(" ")
        )
    };
    format!(
        "## Check it\n\n\
         ```sh\n\
         carbonaut plugin inspect {name}.wasm     # name, version, WIT version, kinds, settings\n\
         carbonaut plugin check {name}.wasm --setting example=value\n\
         ```\n\n\
         `plugin check` loads the component in the same sandbox `carbonaut run` uses (no files, \
         no network, no environment variables unless granted; 128 MiB of memory and 10 s per \
         call by default), calls `metadata` and each provider function once with sample \
         arguments, prints what they returned, how long each call took and the emissions the \
         host computes for a sample. It exits non-zero when a call fails or the host's checks \
         reject what it returned. `--location FR` (and `--region`, `--zone`) moves the sample \
         location; with `--config carbonaut.toml` it uses the settings, grants and limits of \
         the provider that uses this plugin there.\n\n\
         ## Run it\n\n\
         A complete config: save it as `carbonaut.toml` next to a `plugins/` folder.\n\n\
         ```toml\n{config}```\n\n\
         ```sh\n\
         mkdir -p plugins && cp {name}.wasm plugins/\n\
         {copy_mocks}\
         carbonaut check-config carbonaut.toml   # the config, its plugins and their settings\n\
         carbonaut run --config carbonaut.toml   # GET http://127.0.0.1:9464/api/v1/plugins lists it\n\
         ```\n\n\
         The contract, type by type, and what a provider must and must not do: \
         `docs/plugin-authors.md` in the Carbonaut repository.\n",
        config = skeleton.config(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of kinds gives a config the host accepts as it is written: no
    /// provider is named that the config does not define.
    #[test]
    fn each_readme_config_is_valid_for_every_combination_of_kinds() {
        let all = [
            Kind::Discovery,
            Kind::ResourceMetrics,
            Kind::Environment,
            Kind::Estimation,
        ];
        for mask in 1..16u8 {
            let kinds: Vec<Kind> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, k)| *k)
                .collect();
            let skeleton = Skeleton {
                name: "my-plugin".into(),
                kinds: kinds.clone(),
                sdk: SdkSource::Bundled,
            };
            let text = skeleton.config();
            let config =
                carbonaut::config::Config::parse(&text, "README.md", Path::new("/srv"), &|_| None)
                    .unwrap_or_else(|e| panic!("{kinds:?}: {e}\n{text}"));
            assert_eq!(config.plugin_dir, Path::new("/srv/plugins"));
            let account = &config.accounts["my-site"];
            let environment = config.environment.as_ref().map(|e| e.provider.as_str());
            for (kind, used) in [
                (Kind::Discovery, account.discovery.as_str()),
                (Kind::ResourceMetrics, account.resource_metrics.as_str()),
                (Kind::Environment, environment.unwrap_or_default()),
            ] {
                let plugin = &config.providers[used].plugin;
                let expected = match (kinds.contains(&kind), kind) {
                    (true, _) => "my-plugin",
                    (false, Kind::Discovery) => "mock-cloud",
                    (false, Kind::ResourceMetrics) => "mock-meter",
                    (false, Kind::Environment) => "mock-grid",
                    (false, Kind::Estimation) => unreachable!("not in this list"),
                };
                assert_eq!(plugin, expected, "{kinds:?} {kind:?}\n{text}");
            }
            // The estimation plugin is the footprint model; without one there is none.
            let estimation = kinds
                .contains(&Kind::Estimation)
                .then(|| "my-plugin".to_owned());
            assert_eq!(config.footprint.estimation, estimation, "{kinds:?}\n{text}");
        }
    }
}
