//! `carbonaut best-window`: when and where a job of a given length emits least, asked of a
//! running daemon's `GET /api/v1/best-window` (its forecasts live in the daemon), printed as
//! a sentence or as the API's JSON.

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use super::ask::{encode, get};

pub struct Options<'a> {
    pub url: &'a str,
    pub token: Option<&'a str>,
    pub locations: &'a str,
    pub duration: &'a str,
    pub within: &'a str,
    pub json: bool,
}

pub async fn run(o: Options<'_>) -> anyhow::Result<ExitCode> {
    let path = format!(
        "/api/v1/best-window?locations={}&duration={}&within={}",
        encode(o.locations),
        encode(o.duration),
        encode(o.within)
    );
    let body = get(o.url, &path, o.token).await?;
    let answer: Value = serde_json::from_slice(&body).context("the daemon's answer is not JSON")?;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", sentence(&answer, &o)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn sentence(a: &Value, o: &Options<'_>) -> anyhow::Result<String> {
    let text = |key: &str| {
        a[key]
            .as_str()
            .with_context(|| format!("the answer has no `{key}`: {a}"))
    };
    let number = |key: &str| {
        a[key]
            .as_f64()
            .with_context(|| format!("the answer has no `{key}`: {a}"))
    };
    let first = o.locations.split(',').next().unwrap_or_default().trim();
    Ok(format!(
        "Start the {duration} job in {location} at {start} (until {end}).\n\
         Forecast mean: {mean:.1} gCO2e/kWh; started now in {first}: {now:.1} gCO2e/kWh.\n\
         Saving: {saving:.1} gCO2e/kWh ({share:.1}%).\n",
        duration = o.duration,
        location = text("location")?,
        start = text("start")?,
        end = text("end")?,
        mean = number("mean_intensity")?,
        now = number("now_mean_intensity")?,
        saving = number("saving_g_per_kwh")?,
        share = number("saving_share")? * 100.0,
    ))
}
