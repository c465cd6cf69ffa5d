//! `carbonaut plugin inspect FILE [--json]`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use carbonaut_plugins::{PluginInfo, load_file};
use carbonaut_runtime::Limits;

pub async fn run(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = Arc::new(carbonaut_plugins::new_runtime(Limits::default())?);
    let plugin = load_file(&runtime, file).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(plugin.info())?);
    } else {
        print!("{}", render(plugin.info()));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(info: &PluginInfo) -> String {
    let kinds: Vec<&str> = info.kinds.iter().map(|k| k.as_str()).collect();
    let mut out = format!(
        "name:        {}\nversion:     {}\ndescription: {}\nwit:         carbonaut:provider@{} (this host runs {})\nkinds:       {}\nsha256:      {}\nfile:        {} ({} bytes)\n",
        info.name,
        info.version,
        info.description,
        info.wit_version,
        carbonaut_plugins::supported_range(),
        kinds.join(", "),
        info.sha256,
        info.file,
        info.size_bytes,
    );
    if info.settings.is_empty() {
        out.push_str("settings:    none\n");
    } else {
        out.push_str("settings:\n");
        for s in &info.settings {
            let mut flags = vec![if s.required { "required" } else { "optional" }];
            if s.secret {
                flags.push("secret");
            }
            out.push_str(&format!(
                "  {} ({}): {}\n",
                s.key,
                flags.join(", "),
                s.description
            ));
        }
    }
    out.push_str(&render_needs(info));
    out.push_str(&format!(
        "pin it in the config (only this exact file will load):\n  [plugins.{}]\n  sha256 = \"{}\"\n",
        info.name, info.sha256
    ));
    out
}

/// What the plugin asks for; a provider instance gets it only where the config grants it too.
fn render_needs(info: &PluginInfo) -> String {
    let needs = &info.needs;
    if needs.http.is_empty() && needs.read_only_dirs.is_empty() && !needs.key_value {
        return "needs:       nothing (no network, files or key-value store)\n".to_owned();
    }
    let mut out = "needs (granted only where the config allows them too):\n".to_owned();
    let origins = needs.http_origins();
    if !origins.is_empty() {
        out.push_str(&format!("  http:           {}\n", origins.join(", ")));
    }
    if !needs.read_only_dirs.is_empty() {
        out.push_str(&format!(
            "  read-only dirs: {}\n",
            needs.read_only_dirs.join(", ")
        ));
    }
    if needs.key_value {
        out.push_str("  key-value store\n");
    }
    out
}
