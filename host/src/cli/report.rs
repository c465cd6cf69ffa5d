//! `carbonaut report`: the history rollups as a table, JSON or CSV, read from a stopped
//! daemon's state directory (`--state-dir`), or asked of a running daemon (`--url`), since
//! sled lets one process at a time open the state.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use carbonaut_store::history::{HistoryStore, Report, ReportQuery};
use carbonaut_store::state::{StateError, StateStore};

use super::ask::encode;

pub struct Options<'a> {
    pub state_dir: Option<&'a Path>,
    pub url: Option<&'a str>,
    pub token: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub by: &'a str,
    pub step: &'a str,
    pub csv: bool,
    pub json: bool,
}

pub async fn run(o: Options<'_>) -> anyhow::Result<ExitCode> {
    let report = match (o.state_dir, o.url) {
        (Some(dir), None) => {
            let query = ReportQuery::parse(o.from, o.to, Some(o.by), Some(o.step), now_ms())?;
            from_state_dir(dir, &query)?
        }
        (None, Some(url)) => from_daemon(url, o.token, &o).await?,
        _ => anyhow::bail!(
            "give either --state-dir DIR (a stopped daemon's state) or --url http://HOST:PORT (a running daemon)"
        ),
    };
    if o.csv {
        print!("{}", report.to_csv()?);
    } else if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

fn from_state_dir(dir: &Path, query: &ReportQuery) -> anyhow::Result<Report> {
    // Opening creates a state; a mistyped path should say so instead.
    anyhow::ensure!(
        dir.join("conf").is_file() || dir.join("db").is_file(),
        "{} is not a carbonaut state directory (no sled database in it); give the daemon's \
         state_dir (see its config's [paths])",
        dir.display()
    );
    let store = StateStore::open(dir).map_err(|e| match e {
        StateError::Open { ref source, .. } if source.to_string().contains("acquire lock") => {
            anyhow::anyhow!(
                "the state directory {} is in use by a running carbonaut: stop it first, or ask \
                 it instead with --url http://HOST:PORT (and --token when it has tokens)",
                dir.display()
            )
        }
        other => anyhow::Error::from(other),
    })?;
    let history = HistoryStore::new(store.history_tree()?);
    // No config here: a label key is known by the history kept for it.
    Ok(Report::build(&history, query, None)?)
}

/// Asks a running daemon's `GET /api/v1/report`.
async fn from_daemon(url: &str, token: Option<&str>, o: &Options<'_>) -> anyhow::Result<Report> {
    let mut path = format!(
        "/api/v1/report?group_by={}&step={}",
        encode(o.by),
        encode(o.step)
    );
    for (name, value) in [("from", o.from), ("to", o.to)] {
        if let Some(v) = value {
            path.push_str(&format!("&{name}={}", encode(v)));
        }
    }
    let body = super::ask::get(url, &path, token).await?;
    serde_json::from_slice(&body)
        .context("the daemon's report is not the JSON this carbonaut reads")
}

fn table(report: &Report) -> String {
    let mut lines = vec![[
        "start".to_owned(),
        report.group_by.clone(),
        "kWh".to_owned(),
        "kgCO2e".to_owned(),
        "g/kWh".to_owned(),
        "estimated".to_owned(),
        "coverage".to_owned(),
    ]];
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    for r in &report.rows {
        lines.push([
            r.start.clone(),
            r.group.clone(),
            format!("{:.6}", r.energy_kwh),
            format!("{:.6}", r.emissions_kgco2e),
            r.mean_intensity_g_per_kwh
                .map_or("-".to_owned(), |i| format!("{i:.1}")),
            pct(r.estimated_share),
            pct(r.coverage),
        ]);
    }
    let t = &report.totals;
    lines.push([
        "total".to_owned(),
        String::new(),
        format!("{:.6}", t.energy_kwh),
        format!("{:.6}", t.emissions_kgco2e),
        t.mean_intensity_g_per_kwh
            .map_or("-".to_owned(), |i| format!("{i:.1}")),
        pct(t.estimated_share),
        pct(t.coverage),
    ]);
    let widths: Vec<usize> = (0..7)
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for l in lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn now_ms() -> u64 {
    carbonaut_model::clock::now_ms()
}
