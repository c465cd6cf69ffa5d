//! `carbonaut plugin inspect FILE [--json]`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use carbonaut::plugins::{PluginInfo, load_file};
use carbonaut::runtime::{Limits, Runtime};

pub async fn run(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = Arc::new(Runtime::new(Limits::default())?);
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
        "name:        {}\nversion:     {}\ndescription: {}\nwit:         carbonaut:provider@{}\nkinds:       {}\nsha256:      {}\nfile:        {} ({} bytes)\n",
        info.name,
        info.version,
        info.description,
        info.wit_version,
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
    out
}
