//! `carbonaut_plugin_info`: one series per loaded plugin saying which build is running
//! (version, contract, digest, whether a trusted key signed it), rendered live on each scrape
//! from the snapshot's plugin list.

use crate::exposition::Exposition;
use crate::snapshot::PluginStatus;

pub fn render(plugins: &[PluginStatus], out: &mut Exposition) {
    out.family(
        "carbonaut_plugin_info",
        "gauge",
        "Loaded plugins (always 1): version, WIT contract version, sha256 of the file, and \
         whether a trusted key signed it.",
    );
    for p in plugins {
        let wit = p.info.wit_version.to_string();
        out.sample(
            "carbonaut_plugin_info",
            &[
                ("plugin", &p.info.name),
                ("version", &p.info.version),
                ("wit_version", &wit),
                ("sha256", &p.info.sha256),
                (
                    "signed",
                    if p.info.signed_by.is_some() {
                        "true"
                    } else {
                        "false"
                    },
                ),
            ],
            1.0,
        );
    }
}
