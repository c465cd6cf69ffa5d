//! Checks of what a provider may use, as written in its config table: read-only directories,
//! HTTP origins, a CA bundle, and limits over the global `[limits]`. Part of the second stage
//! of loading (see `validate.rs`), reporting every problem with its position.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_spanned::Spanned;

use super::raw::RawLimits;
use super::validate::Checker;
use carbonaut_runtime::Limits;
use carbonaut_runtime::http::HttpOrigin;
use carbonaut_runtime::tls_roots::TlsRoots;

impl Checker<'_> {
    pub(super) fn read_only_dirs(
        &mut self,
        provider: &str,
        raw: &BTreeMap<String, Spanned<String>>,
        base_dir: &Path,
    ) -> Vec<(PathBuf, String)> {
        let mut dirs = Vec::new();
        for (guest, host) in raw {
            let path = base_dir.join(host.get_ref());
            if !guest.starts_with('/') || guest.split('/').any(|part| part == "..") {
                self.report.push(
                    self.at(host.span()),
                    format!(
                        "provider `{provider}` grants `{}` at guest path `{guest}`",
                        host.get_ref()
                    ),
                    "guest paths are absolute and without `..`, like \"/sys/class/powercap\"",
                );
            } else if !path.is_dir() {
                self.report.push(
                    self.at(host.span()),
                    format!(
                        "provider `{provider}` grants `{}`, which is not a directory here",
                        path.display()
                    ),
                    "grant an existing directory, or remove the entry",
                );
            } else {
                dirs.push((path, guest.clone()));
            }
        }
        dirs
    }

    pub(super) fn allow_http(
        &mut self,
        provider: &str,
        raw: &[Spanned<String>],
    ) -> Vec<HttpOrigin> {
        let mut origins = Vec::new();
        for entry in raw {
            match entry.get_ref().parse() {
                Ok(origin) => origins.push(origin),
                Err(error) => self.report.push(
                    self.at(entry.span()),
                    format!("provider `{provider}` allow_http: {error}"),
                    "list origins only: scheme, host and optional port; the plugin adds paths",
                ),
            }
        }
        origins
    }

    pub(super) fn tls_ca(
        &mut self,
        provider: &str,
        raw: &Spanned<String>,
        base_dir: &Path,
    ) -> Option<TlsRoots> {
        TlsRoots::load(&base_dir.join(raw.get_ref()))
            .map_err(|error| {
                self.report.push(
                    self.at(raw.span()),
                    format!("provider `{provider}` tls_ca: {error}"),
                    "name a PEM file of CA certificates, like the `certificate-authority` of a kubeconfig",
                );
            })
            .ok()
    }

    /// `raw` over `base`; `table` names the TOML table in messages.
    pub(super) fn limits(&mut self, raw: &RawLimits, base: Limits, table: &str) -> Limits {
        let default = Limits::default();
        let mut number = |value: &Option<Spanned<u64>>,
                          key: &str,
                          range: std::ops::RangeInclusive<u64>,
                          base: u64,
                          default: u64| {
            match value {
                None => base,
                Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
                Some(v) => {
                    self.report.push(
                        self.at(v.span()),
                        format!("{table}.{key} is {}", v.get_ref()),
                        format!(
                            "use a number from {} to {} (default {default})",
                            range.start(),
                            range.end()
                        ),
                    );
                    base
                }
            }
        };
        let as_u64 = |n: usize| n as u64;
        let memory_mib = number(
            &raw.memory_mib,
            "memory_mib",
            1..=4096,
            as_u64(base.memory_bytes >> 20),
            as_u64(default.memory_bytes >> 20),
        );
        let max_concurrent_calls = number(
            &raw.max_concurrent_calls,
            "max_concurrent_calls",
            1..=256,
            as_u64(base.max_concurrent_calls),
            as_u64(default.max_concurrent_calls),
        );
        let max_result_items = number(
            &raw.max_result_items,
            "max_result_items",
            1..=10_000_000,
            as_u64(base.max_result_items),
            as_u64(default.max_result_items),
        );
        let max_power_watts = number(
            &raw.max_power_watts,
            "max_power_watts",
            1..=100_000_000,
            base.max_power_watts,
            default.max_power_watts,
        );
        let call_deadline = self.interval(
            &format!("{table}.call_deadline"),
            &raw.call_deadline,
            base.call_deadline,
        );
        // The ranges above keep these far inside usize on every target we build for.
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            memory_bytes: to_usize(memory_mib) << 20,
            call_deadline,
            max_concurrent_calls: to_usize(max_concurrent_calls),
            max_result_items: to_usize(max_result_items),
            max_power_watts,
        }
    }
}
