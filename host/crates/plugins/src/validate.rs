//! The checks every plugin answer passes before the host believes it. A plugin is third-party
//! code relaying upstream APIs, so nothing it says is taken on trust: numbers must be finite
//! and physically possible, times within a window of the host's clock, ids unique and free of
//! control characters, strings and nested lists bounded. Each item that fails is dropped and
//! counted by reason (a bounded set, [`Reason`]); the rest of the answer is kept. The rules are
//! documented for plugin authors in `docs/plugin-authors.md` ("What the host accepts").

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};

use carbonaut_model::text;
use carbonaut_model::{
    EmbodiedShare, EnergyMix, Estimate, IntensityForecast, Labels, Location, LocationQuery,
    PluginMetadata, Project, ResourceInfo, ResourceSample,
};

/// Why an item (or a field of one) was dropped. The set is closed, so the
/// `carbonaut_plugin_rejected_items_total{reason}` series stay few.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// An id that is empty, too long or holds control characters.
    InvalidId,
    /// The same project or resource id twice in one answer.
    DuplicateId,
    /// A second sample for one resource, or a second mix for one location, in one answer.
    Duplicate,
    /// A sample for a resource, or a mix for a location, the host did not ask about.
    NotAsked,
    /// An energy counter that is not finite, negative or beyond any real counter.
    Energy,
    /// Power that is not finite, negative or above the provider's plausible maximum.
    Power,
    /// A CPU frequency that is not finite or not positive (the field is dropped).
    Frequency,
    /// A utilisation outside 0 to 1 (the field is dropped).
    Utilization,
    /// A carbon intensity outside 0 to 5000 g/kWh.
    Intensity,
    /// Mix shares outside 0 to 1, repeated sources, or not summing to 1 (shares dropped).
    Shares,
    /// A time too far in the future of the host's clock.
    TimestampFuture,
    /// A time too far in the past of the host's clock.
    TimestampPast,
    /// A sample older than the last one the host took for the resource.
    TimestampBackwards,
    /// An energy delta larger than the plausible maximum power over the time elapsed.
    ImplausibleDelta,
    /// A country code or coordinates that cannot be (the field is dropped).
    Location,
    /// Labels beyond the per-item budget, or a repeated label key (the extra labels dropped).
    Labels,
    /// A string cut to its cap, or with control characters replaced.
    Text,
    /// A GPU count beyond any machine (the field is dropped).
    Hardware,
    /// A mix or forecast for another grid zone than the one asked about.
    WrongZone,
    /// Manufacturing emissions, a share or a lifetime that cannot be (the field is dropped).
    Embodied,
    /// Forecast points out of order, overlapping or with an intensity out of range.
    Forecast,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidId => "invalid-id",
            Reason::DuplicateId => "duplicate-id",
            Reason::Duplicate => "duplicate",
            Reason::NotAsked => "not-asked",
            Reason::Energy => "energy",
            Reason::Power => "power",
            Reason::Frequency => "frequency",
            Reason::Utilization => "utilization",
            Reason::Intensity => "intensity",
            Reason::Shares => "shares",
            Reason::TimestampFuture => "timestamp-future",
            Reason::TimestampPast => "timestamp-past",
            Reason::TimestampBackwards => "timestamp-backwards",
            Reason::ImplausibleDelta => "implausible-delta",
            Reason::Location => "location",
            Reason::Labels => "labels",
            Reason::Text => "text",
            Reason::Hardware => "hardware",
            Reason::WrongZone => "wrong-zone",
            Reason::Embodied => "embodied",
            Reason::Forecast => "forecast",
        }
    }
}

/// What one answer lost, by reason, with the first example of each for the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rejections {
    pub by_reason: BTreeMap<Reason, (u64, String)>,
}

impl Rejections {
    pub fn add(&mut self, reason: Reason, example: impl FnOnce() -> String) {
        self.by_reason
            .entry(reason)
            .and_modify(|(n, _)| *n += 1)
            .or_insert_with(|| (1, text::escape(&example(), 200)));
    }

    pub fn is_empty(&self) -> bool {
        self.by_reason.is_empty()
    }

    pub fn count(&self, reason: Reason) -> u64 {
        self.by_reason.get(&reason).map_or(0, |(n, _)| *n)
    }

    pub fn merge(&mut self, other: Rejections) {
        for (reason, (n, example)) in other.by_reason {
            self.by_reason
                .entry(reason)
                .and_modify(|(m, _)| *m += n)
                .or_insert((n, example));
        }
    }
}

/// An answer after the checks: what passed, and what did not. Only the checks in this module
/// make one (its fields are private), so a `Checked` in hand is proof the data came through
/// this door.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T> {
    items: T,
    rejected: Rejections,
}

impl<T> Checked<T> {
    /// What the checks refused, by reason.
    pub fn rejected(&self) -> &Rejections {
        &self.rejected
    }

    /// What passed and what was refused.
    pub fn into_parts(self) -> (T, Rejections) {
        (self.items, self.rejected)
    }

    /// What passed, for callers that count rejections elsewhere or not at all.
    pub fn into_items(self) -> T {
        self.items
    }
}

/// Reads through to what passed: a checked list is used like the list.
impl<T> std::ops::Deref for Checked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.items
    }
}

/// Ids longer than this are refused: they are keys, URL segments and label values.
pub const MAX_ID_BYTES: usize = 256;
/// Names, regions, zones, CPU models: cut to this.
pub const MAX_TEXT_BYTES: usize = 256;
/// Labels per project or resource, and their bytes (keys plus values) in all.
pub const MAX_LABELS: usize = 32;
pub const MAX_LABEL_BYTES: usize = 4096;
pub const MAX_LABEL_KEY_BYTES: usize = 128;
/// A counter beyond this many joules (278 GWh) is not a machine's counter.
pub const MAX_ENERGY_COUNTER_JOULES: f64 = 1e15;
/// Above any CPU clock (100 GHz).
pub const MAX_FREQUENCY_HERTZ: f64 = 1e11;
/// The highest grid intensity on record is about 1100 g/kWh (lignite); 5000 leaves room for
/// marginal figures while refusing unit mistakes (lbs/MWh or mg sent as g).
pub const MAX_INTENSITY_G_PER_KWH: f64 = 5000.0;
/// How far mix shares may sum away from 1 (rounding in upstream APIs).
pub const SHARES_TOLERANCE: f64 = 0.02;
/// A sample may be this far ahead of the host's clock (skew between machines).
pub const SAMPLE_FUTURE_MS: u64 = 5 * 60 * 1000;
/// A sample older than a day is no reading of now.
pub const SAMPLE_PAST_MS: u64 = 24 * 3600 * 1000;
/// Mixes may hold for a coming hour (forecasts). There is no lower bound: a static table may
/// say its figure holds since the epoch, and a mix is used for samples after its `valid-at`.
pub const MIX_FUTURE_MS: u64 = 24 * 3600 * 1000;
/// Plugin names: what a file name, a metric label and a config key can all carry.
pub const MAX_PLUGIN_NAME_BYTES: usize = 64;

/// What a check needs to know beyond the answer itself.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub now_ms: u64,
    /// The provider's plausible maximum power of one resource, in watts.
    pub max_power_watts: f64,
}

fn bad_id(id: &str) -> bool {
    id.is_empty() || id.len() > MAX_ID_BYTES || text::has_control(id)
}

/// Cuts a display string to its cap and replaces control characters, counting either.
fn tidy(s: &mut String, cap: usize, rejected: &mut Rejections) {
    if s.len() > cap || text::has_control(s) {
        rejected.add(Reason::Text, || s.chars().take(40).collect());
        if text::has_control(s) {
            *s = s
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect();
        }
        let mut cut = s.len().min(cap);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

fn tidy_labels(labels: &mut Labels, rejected: &mut Rejections) {
    let mut seen = HashSet::new();
    let mut bytes = 0;
    let before = labels.len();
    labels.retain_mut(|(k, v)| {
        tidy(k, MAX_LABEL_KEY_BYTES, rejected);
        tidy(v, MAX_TEXT_BYTES, rejected);
        bytes += k.len() + v.len();
        !k.is_empty()
            && seen.len() < MAX_LABELS
            && bytes <= MAX_LABEL_BYTES
            && seen.insert(k.clone())
    });
    if labels.len() < before {
        rejected.add(Reason::Labels, || format!("{before} labels"));
    }
}

fn tidy_location(l: &mut Location, rejected: &mut Rejections) {
    if let Some(country) = &mut l.country {
        if country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic()) {
            country.make_ascii_uppercase();
        } else {
            rejected.add(Reason::Location, || format!("country {country:?}"));
            l.country = None;
        }
    }
    for field in [&mut l.region, &mut l.zone].into_iter().flatten() {
        tidy(field, MAX_TEXT_BYTES, rejected);
    }
    if let Some(cloud) = &mut l.cloud {
        // A key of the PUE table and a label value: short, lower case, no control characters.
        tidy(cloud, MAX_LABEL_KEY_BYTES, rejected);
        cloud.make_ascii_lowercase();
    }
    if let Some(c) = l.coordinates
        && !(c.latitude.is_finite()
            && c.longitude.is_finite()
            && (-90.0..=90.0).contains(&c.latitude)
            && (-180.0..=180.0).contains(&c.longitude))
    {
        rejected.add(Reason::Location, || {
            format!("coordinates {}, {}", c.latitude, c.longitude)
        });
        l.coordinates = None;
    }
}

/// Keeps the first of each valid, distinct id; reports the others.
fn unique_ids<T>(items: Vec<T>, id: impl Fn(&T) -> &str, rejected: &mut Rejections) -> Vec<T> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|item| {
            let id = id(item);
            if bad_id(id) {
                rejected.add(Reason::InvalidId, || id.to_owned());
                false
            } else if !seen.insert(id.to_owned()) {
                rejected.add(Reason::DuplicateId, || id.to_owned());
                false
            } else {
                true
            }
        })
        .collect()
}

pub fn projects(list: Vec<Project>) -> Checked<Vec<Project>> {
    let mut rejected = Rejections::default();
    let mut items = unique_ids(list, |p| &p.id, &mut rejected);
    for p in &mut items {
        tidy(&mut p.name, MAX_TEXT_BYTES, &mut rejected);
        tidy_labels(&mut p.labels, &mut rejected);
    }
    Checked { items, rejected }
}

pub fn resources(list: Vec<ResourceInfo>) -> Checked<Vec<ResourceInfo>> {
    let mut rejected = Rejections::default();
    let mut items = unique_ids(list, |r| &r.id, &mut rejected);
    for r in &mut items {
        tidy(&mut r.name, MAX_TEXT_BYTES, &mut rejected);
        tidy_labels(&mut r.labels, &mut rejected);
        tidy_location(&mut r.location, &mut rejected);
        let hardware = &mut r.hardware;
        for text in [
            &mut hardware.cpu_model,
            &mut hardware.instance_type,
            &mut hardware.gpu_model,
        ]
        .into_iter()
        .flatten()
        {
            tidy(text, MAX_TEXT_BYTES, &mut rejected);
        }
        if let Some(gpus) = hardware.gpu_count
            && gpus > MAX_GPUS
        {
            rejected.add(Reason::Hardware, || format!("{gpus} GPUs on {}", r.id));
            hardware.gpu_count = None;
        }
    }
    Checked { items, rejected }
}

/// More GPUs than any one machine or VM carries (16 today; room for growth).
pub const MAX_GPUS: u32 = 256;

/// Checks a sample's time against the host's clock.
fn sample_time(read_at: u64, rules: &Rules) -> Result<(), Reason> {
    if read_at > rules.now_ms.saturating_add(SAMPLE_FUTURE_MS) {
        Err(Reason::TimestampFuture)
    } else if read_at < rules.now_ms.saturating_sub(SAMPLE_PAST_MS) {
        Err(Reason::TimestampPast)
    } else {
        Ok(())
    }
}

/// One sample's own checks. `Err` drops the whole sample; a bad CPU figure drops that field.
fn sample(s: &mut ResourceSample, rules: &Rules, rejected: &mut Rejections) -> Result<(), Reason> {
    sample_time(s.read_at, rules)?;
    if let Some(e) = s.energy_joules
        && !(e.is_finite() && (0.0..=MAX_ENERGY_COUNTER_JOULES).contains(&e))
    {
        return Err(Reason::Energy);
    }
    if let Some(p) = s.power_watts
        && !(p.is_finite() && (0.0..=rules.max_power_watts).contains(&p))
    {
        return Err(Reason::Power);
    }
    let mut components = HashSet::new();
    for c in &s.components {
        if !components.insert(c.component) {
            return Err(Reason::Duplicate);
        }
        if let Some(e) = c.energy_joules
            && !(e.is_finite() && (0.0..=MAX_ENERGY_COUNTER_JOULES).contains(&e))
        {
            return Err(Reason::Energy);
        }
        if let Some(p) = c.power_watts
            && !(p.is_finite() && (0.0..=rules.max_power_watts).contains(&p))
        {
            return Err(Reason::Power);
        }
    }
    if let Some(f) = s.cpu_frequency_hertz
        && !(f.is_finite() && f > 0.0 && f <= MAX_FREQUENCY_HERTZ)
    {
        rejected.add(Reason::Frequency, || {
            format!("{} Hz for {}", f, s.resource_id)
        });
        s.cpu_frequency_hertz = None;
    }
    if let Some(u) = s.cpu_utilization_ratio
        && !(u.is_finite() && (0.0..=1.0).contains(&u))
    {
        rejected.add(Reason::Utilization, || {
            format!("{} for {}", u, s.resource_id)
        });
        s.cpu_utilization_ratio = None;
    }
    Ok(())
}

/// Samples of one batch: at most one per asked resource, each passing [`sample`]'s checks.
pub fn samples<R: Borrow<ResourceInfo>>(
    list: Vec<ResourceSample>,
    asked: &[R],
    rules: &Rules,
) -> Checked<Vec<ResourceSample>> {
    let mut rejected = Rejections::default();
    let asked: HashSet<&str> = asked.iter().map(|r| r.borrow().id.as_str()).collect();
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(list.len());
    for mut s in list {
        if !asked.contains(s.resource_id.as_str()) {
            rejected.add(Reason::NotAsked, || s.resource_id.clone());
            continue;
        }
        if !seen.insert(s.resource_id.clone()) {
            rejected.add(Reason::Duplicate, || s.resource_id.clone());
            continue;
        }
        match sample(&mut s, rules, &mut rejected) {
            Ok(()) => items.push(s),
            Err(reason) => rejected.add(reason, || describe_sample(&s)),
        }
    }
    Checked { items, rejected }
}

fn describe_sample(s: &ResourceSample) -> String {
    format!(
        "{}: energy {:?} J, power {:?} W, read at {} ms",
        s.resource_id, s.energy_joules, s.power_watts, s.read_at
    )
}

/// Mixes of one call: at most one per asked location, intensity and time in range; shares
/// that do not add up are dropped and the intensity kept.
pub fn mixes(
    list: Vec<EnergyMix>,
    asked: &[LocationQuery],
    rules: &Rules,
) -> Checked<Vec<EnergyMix>> {
    let mut rejected = Rejections::default();
    let asked: HashMap<&str, &LocationQuery> = asked.iter().map(|q| (q.id.as_str(), q)).collect();
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for mut m in list {
        let query = asked.get(m.location_id.as_str());
        let reason = if query.is_none() {
            Some(Reason::NotAsked)
        } else if query.is_some_and(|q| !same_zone(q, m.zone.as_deref())) {
            Some(Reason::WrongZone)
        } else if seen.contains(&m.location_id) {
            Some(Reason::Duplicate)
        } else if !(m.carbon_intensity.is_finite()
            && (0.0..=MAX_INTENSITY_G_PER_KWH).contains(&m.carbon_intensity))
        {
            Some(Reason::Intensity)
        } else if m.valid_at > rules.now_ms.saturating_add(MIX_FUTURE_MS) {
            Some(Reason::TimestampFuture)
        } else {
            None
        };
        if let Some(reason) = reason {
            rejected.add(reason, || {
                format!(
                    "{}: {} g/kWh valid at {} ms",
                    m.location_id, m.carbon_intensity, m.valid_at
                )
            });
            continue;
        }
        if !shares_add_up(&m) {
            rejected.add(Reason::Shares, || {
                format!("{}: {} shares", m.location_id, m.shares.len())
            });
            m.shares.clear();
        }
        seen.insert(m.location_id.clone());
        items.push(m);
    }
    Checked { items, rejected }
}

/// Whether an answer for `zone` answers `query`: one that names no zone cannot be told wrong;
/// otherwise its zone must be one the query could have been asked as, ignoring case: the
/// operator's grid zone, the location's zone (a grid zone, or an availability zone no grid
/// provider answers with) or its country. Electricity Maps may fall back to the caller's own
/// zone, which is none of these.
fn same_zone(query: &LocationQuery, zone: Option<&str>) -> bool {
    let Some(zone) = zone else {
        return true;
    };
    [
        query.grid_zone.as_deref(),
        query.location.grid_zone.as_deref(),
        query.location.zone.as_deref(),
        query.location.country.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|asked| asked.eq_ignore_ascii_case(zone))
}

/// Estimates of one call: at most one per asked resource; power per component finite, at most
/// the provider's plausible maximum in all and each component once (else the estimate is
/// dropped); an embodied share that cannot be is dropped and the power kept.
pub fn estimates(
    list: Vec<Estimate>,
    asked: &[&ResourceInfo],
    rules: &Rules,
) -> Checked<Vec<Estimate>> {
    let mut rejected = Rejections::default();
    let asked: HashSet<&str> = asked.iter().map(|r| r.id.as_str()).collect();
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for mut e in list {
        let mut components = HashSet::new();
        let total: f64 = e.power.iter().map(|(_, w)| w).sum();
        let reason = if !asked.contains(e.resource_id.as_str()) {
            Some(Reason::NotAsked)
        } else if seen.contains(&e.resource_id)
            || !e.power.iter().all(|(c, _)| components.insert(*c))
        {
            Some(Reason::Duplicate)
        } else if !e.power.iter().all(|(_, w)| w.is_finite() && *w >= 0.0)
            || total > rules.max_power_watts
        {
            Some(Reason::Power)
        } else {
            None
        };
        if let Some(reason) = reason {
            rejected.add(reason, || format!("{}: {:?}", e.resource_id, e.power));
            continue;
        }
        if let Some(m) = e.embodied
            && !embodied_is_possible(&m)
        {
            rejected.add(Reason::Embodied, || {
                format!(
                    "{}: {} g, share {}, {:?} h",
                    e.resource_id, m.machine_grams, m.share, m.lifetime_hours
                )
            });
            e.embodied = None;
        }
        tidy(&mut e.basis, MAX_TEXT_BYTES, &mut rejected);
        seen.insert(e.resource_id.clone());
        items.push(e);
    }
    Checked { items, rejected }
}

/// The most manufacturing emissions one machine is taken to have: 100 t CO2e, some ten times a
/// loaded GPU server's.
pub const MAX_MACHINE_GRAMS: f64 = 1e8;

fn embodied_is_possible(m: &EmbodiedShare) -> bool {
    m.machine_grams.is_finite()
        && m.machine_grams > 0.0
        && m.machine_grams <= MAX_MACHINE_GRAMS
        && m.share.is_finite()
        && m.share > 0.0
        && m.share <= 1.0
        && m.lifetime_hours.is_none_or(|h| h.is_finite() && h >= 1.0)
}

/// Points one forecast may hold: four weeks of quarter hours. The list length of an answer
/// is bounded by the call's item limit; the points inside each item are bounded here, as a
/// snapshot copy of them is kept per location.
pub const MAX_FORECAST_POINTS: usize = 28 * 24 * 4;

/// Forecasts of one call: at most one per asked location, for the zone asked, generated no
/// later than the clock allows, points in time order and not overlapping with intensities in
/// range (else the forecast is dropped).
pub fn forecasts(
    list: Vec<IntensityForecast>,
    asked: &[LocationQuery],
    rules: &Rules,
) -> Checked<Vec<IntensityForecast>> {
    let mut rejected = Rejections::default();
    let asked: HashMap<&str, &LocationQuery> = asked.iter().map(|q| (q.id.as_str(), q)).collect();
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for f in list {
        let query = asked.get(f.location_id.as_str());
        let in_order = f
            .points
            .windows(2)
            .all(|w| w[0].starts_at.saturating_add(w[0].duration_ms) <= w[1].starts_at);
        let reason = if query.is_none() {
            Some(Reason::NotAsked)
        } else if query.is_some_and(|q| !same_zone(q, f.zone.as_deref())) {
            Some(Reason::WrongZone)
        } else if seen.contains(&f.location_id) {
            Some(Reason::Duplicate)
        } else if f.generated_at > rules.now_ms.saturating_add(SAMPLE_FUTURE_MS) {
            Some(Reason::TimestampFuture)
        } else if !in_order
            || f.points.len() > MAX_FORECAST_POINTS
            || f.points.iter().any(|p| {
                p.duration_ms == 0
                    || !(p.carbon_intensity.is_finite()
                        && (0.0..=MAX_INTENSITY_G_PER_KWH).contains(&p.carbon_intensity))
            })
        {
            Some(Reason::Forecast)
        } else {
            None
        };
        if let Some(reason) = reason {
            rejected.add(reason, || {
                format!("{}: {} points", f.location_id, f.points.len())
            });
            continue;
        }
        seen.insert(f.location_id.clone());
        items.push(f);
    }
    Checked { items, rejected }
}

/// Each share in 0 to 1, each source once, summing to 1 within [`SHARES_TOLERANCE`]; no
/// shares at all is fine (an intensity without a breakdown).
fn shares_add_up(m: &EnergyMix) -> bool {
    if m.shares.is_empty() {
        return true;
    }
    let mut sources = HashMap::new();
    let mut sum = 0.0;
    for s in &m.shares {
        if !(s.ratio.is_finite() && (0.0..=1.0).contains(&s.ratio))
            || sources.insert(s.source, ()).is_some()
        {
            return false;
        }
        sum += s.ratio;
    }
    (sum - 1.0).abs() <= SHARES_TOLERANCE
}

/// Why a plugin's metadata is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error(
        "its name {0} is not 1 to {MAX_PLUGIN_NAME_BYTES} ASCII letters, digits, '-', '_' or '.'"
    )]
    Name(String),
    #[error("its version {0} is not 1 to 64 characters without spaces or control characters")]
    Version(String),
    #[error("it declares {0} settings (at most 256)")]
    Settings(usize),
    #[error("a setting key {0} is empty, too long or holds control characters")]
    SettingKey(String),
    #[error("its needs list more than 256 origins or directories")]
    Needs,
}

/// A plugin's metadata: the name must be usable as a file name, label value and config key;
/// the other texts are escaped and capped.
pub fn metadata(mut m: PluginMetadata) -> Result<PluginMetadata, MetadataError> {
    let name_ok = !m.name.is_empty()
        && m.name.len() <= MAX_PLUGIN_NAME_BYTES
        && m.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(MetadataError::Name(text::escape(&m.name, 80)));
    }
    if m.version.is_empty()
        || m.version.len() > 64
        || m.version
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(MetadataError::Version(text::escape(&m.version, 80)));
    }
    text::escape_in_place(&mut m.description, 1024);
    if m.settings.len() > 256 {
        return Err(MetadataError::Settings(m.settings.len()));
    }
    for s in &mut m.settings {
        if bad_id(&s.key) {
            return Err(MetadataError::SettingKey(text::escape(&s.key, 80)));
        }
        text::escape_in_place(&mut s.description, 1024);
    }
    let needs = &m.needs;
    if needs.http.len() > 256 || needs.read_only_dirs.len() > 256 {
        return Err(MetadataError::Needs);
    }
    Ok(m)
}

#[cfg(test)]
mod tests;
