//! The pure maths of the rollups: what one bucket holds and how buckets add up, how the
//! interval between two samples is split over the UTC hours it spans, how energy priced late
//! is spread back over the hours it was used in, the keys buckets are stored under, and their
//! compact binary encoding. Nothing here touches sled.

pub const HOUR_MS: u64 = 3_600_000;
pub const DAY_MS: u64 = 24 * HOUR_MS;
pub const JOULES_PER_KWH: f64 = 3.6e6;

/// An interval longer than this (a daemon stopped for days, then a counter delta over the
/// whole gap) is split per UTC day instead of per hour, landing in each day's first hour, so
/// one sample never writes thousands of buckets.
pub const MAX_HOURLY_SPLIT_MS: u64 = 72 * HOUR_MS;

/// Providers remembered per bucket; more are dropped (a bucket is written every collection,
/// so its size is kept small).
pub const MAX_PROVIDERS: usize = 8;

/// The figures of one group over one hour (hourly tier) or one UTC day (daily tier).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    pub energy_joules: f64,
    pub emissions_grams: f64,
    /// Energy whose emissions are known: the weight of the mean carbon intensity. Energy
    /// waiting for an intensity is in `energy_joules` but not here until it is priced.
    pub priced_joules: f64,
    /// Energy from samples a provider flagged as estimated (a model, not a meter).
    pub estimated_joules: f64,
    /// Seconds of sampled time summed over resources: resource-hours × 3600.
    pub resource_seconds: f64,
    /// Bit `h` set: UTC hour `h` of the bucket's day has data.
    pub hours: u32,
    /// Provider instances the figures came from, sorted, at most [`MAX_PROVIDERS`].
    pub providers: Vec<String>,
    /// The resources' shares of their machines' manufacturing emissions over the period,
    /// apart from the operational `emissions_grams`.
    pub embodied_grams: f64,
}

impl Bucket {
    pub fn add(&mut self, other: &Bucket) {
        self.energy_joules += other.energy_joules;
        self.emissions_grams += other.emissions_grams;
        self.priced_joules += other.priced_joules;
        self.estimated_joules += other.estimated_joules;
        self.resource_seconds += other.resource_seconds;
        self.embodied_grams += other.embodied_grams;
        self.hours |= other.hours;
        for p in &other.providers {
            self.add_provider(p);
        }
    }

    pub fn add_provider(&mut self, name: &str) {
        if let Err(at) = self.providers.binary_search_by(|p| p.as_str().cmp(name))
            && self.providers.len() < MAX_PROVIDERS
        {
            self.providers.insert(at, name.to_owned());
        }
    }

    /// Energy-weighted mean carbon intensity of the priced energy, in g/kWh.
    pub fn mean_intensity(&self) -> Option<f64> {
        (self.priced_joules > 0.0)
            .then(|| self.emissions_grams / (self.priced_joules / JOULES_PER_KWH))
    }

    /// The share of the energy that was estimated, 0 when there is none.
    pub fn estimated_share(&self) -> f64 {
        if self.energy_joules > 0.0 {
            self.estimated_joules / self.energy_joules
        } else {
            0.0
        }
    }

    /// Version byte, six little-endian f64, the hour mask, then each provider as a length
    /// byte and its UTF-8 bytes: 53 bytes plus the provider names. (Version 1, read still,
    /// had five f64: no embodied grams.)
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(56 + self.providers.iter().map(String::len).sum::<usize>());
        out.push(ENCODING_VERSION);
        for f in [
            self.energy_joules,
            self.emissions_grams,
            self.priced_joules,
            self.estimated_joules,
            self.resource_seconds,
            self.embodied_grams,
        ] {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out.extend_from_slice(&self.hours.to_le_bytes());
        for p in &self.providers {
            let bytes = &p.as_bytes()[..p.len().min(255)];
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Bucket> {
        let (&version, rest) = bytes.split_first()?;
        let floats = match version {
            ENCODING_BEFORE_EMBODIED => 5,
            ENCODING_VERSION => 6,
            _ => return None,
        };
        let mask_at = floats * 8;
        if rest.len() < mask_at + 4 {
            return None;
        }
        let f = |i: usize| -> Option<f64> {
            Some(f64::from_le_bytes(
                rest.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        let hours = u32::from_le_bytes(rest.get(mask_at..mask_at + 4)?.try_into().ok()?);
        let mut providers = Vec::new();
        let mut tail = &rest[mask_at + 4..];
        while let Some((&len, after)) = tail.split_first() {
            let name = after.get(..len as usize)?;
            providers.push(String::from_utf8_lossy(name).into_owned());
            tail = &after[len as usize..];
        }
        Some(Bucket {
            energy_joules: f(0)?,
            emissions_grams: f(1)?,
            priced_joules: f(2)?,
            estimated_joules: f(3)?,
            resource_seconds: f(4)?,
            hours,
            providers,
            embodied_grams: if floats == 6 { f(5)? } else { 0.0 },
        })
    }
}

const ENCODING_VERSION: u8 = 2;
const ENCODING_BEFORE_EMBODIED: u8 = 1;

/// The group under which the hourly buckets of resources in one chunk (the state's counter
/// chunk of their id) are packed in one value: `#` and the chunk name, which no resource id
/// starts with.
pub fn pack_group(chunk: &str) -> String {
    format!("#{chunk}")
}

/// Resources' buckets packed in one value, sorted by resource id: each entry is the id as a
/// length byte and its bytes, then the bucket's encoding as a 2-byte little-endian length
/// and its bytes. One value per chunk and hour instead of one per resource and hour: sled's
/// memory grows with the number of values written (BENCHMARKS.md, "Footprint").
pub fn encode_pack<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Bucket)>) -> Vec<u8> {
    let mut out = vec![PACK_VERSION];
    for (id, b) in entries {
        let id = &id.as_bytes()[..id.len().min(255)];
        let encoded = b.encode();
        let Ok(len) = u16::try_from(encoded.len()) else {
            continue; // 8 providers of at most 255 bytes cannot reach 64 KiB
        };
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&encoded);
    }
    out
}

/// The entries of a pack; `None` for bytes [`encode_pack`] did not write.
pub fn decode_pack(bytes: &[u8]) -> Option<Vec<(String, Bucket)>> {
    let (&version, mut rest) = bytes.split_first()?;
    if version != PACK_VERSION {
        return None;
    }
    let mut out = Vec::new();
    while let Some((&len, after)) = rest.split_first() {
        let id = std::str::from_utf8(after.get(..len as usize)?).ok()?;
        let after = &after[len as usize..];
        let size = u16::from_le_bytes(after.get(..2)?.try_into().ok()?) as usize;
        let bucket = Bucket::decode(after.get(2..2 + size)?)?;
        out.push((id.to_owned(), bucket));
        rest = &after[2 + size..];
    }
    Some(out)
}

const PACK_VERSION: u8 = 1;

pub fn hour_start(ms: u64) -> u64 {
    ms - ms % HOUR_MS
}

pub fn day_start(ms: u64) -> u64 {
    ms - ms % DAY_MS
}

/// The bit of [`Bucket::hours`] for the UTC hour that `ms` falls in.
pub fn hour_bit(ms: u64) -> u32 {
    1 << ((ms % DAY_MS) / HOUR_MS)
}

/// The share of one sample's interval that fell in one hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    /// Start of the UTC hour (of the UTC day for intervals over [`MAX_HOURLY_SPLIT_MS`]).
    pub hour_ms: u64,
    /// This piece's share of the interval's time, and so of its energy.
    pub fraction: f64,
    pub seconds: f64,
}

/// Splits the interval `(from, to]` over the UTC hours it spans, in proportion to time: the
/// energy between two samples is taken to be used evenly between them. Without a previous
/// sample (or a sample not newer) everything lands in `to`'s hour with no time.
pub fn split_interval(from_ms: Option<u64>, to_ms: u64) -> Vec<Piece> {
    let Some(from) = from_ms.filter(|f| *f < to_ms) else {
        return vec![Piece {
            hour_ms: hour_start(to_ms),
            fraction: 1.0,
            seconds: 0.0,
        }];
    };
    let step = if to_ms - from > MAX_HOURLY_SPLIT_MS {
        DAY_MS
    } else {
        HOUR_MS
    };
    let total = (to_ms - from) as f64;
    let mut pieces = Vec::new();
    let mut start = from;
    while start < to_ms {
        let grid = start - start % step;
        let end = (grid + step).min(to_ms);
        pieces.push(Piece {
            hour_ms: grid,
            fraction: (end - start) as f64 / total,
            seconds: (end - start) as f64 / 1000.0,
        });
        start = end;
    }
    pieces
}

/// A resource's energy held unpriced: (hour start, joules) per hour, oldest first.
pub type Unpriced = Vec<(u64, f64)>;

/// Grams for energy held unpriced in `pending` (hour, joules), now priced with `grams` in
/// all: each hour gets its share by energy, so the emissions land where the energy was used.
pub fn spread_late_grams(pending: &[(u64, f64)], grams: f64) -> Vec<(u64, f64, f64)> {
    let joules: f64 = pending.iter().map(|(_, j)| j).sum();
    if joules <= 0.0 {
        return Vec::new();
    }
    pending
        .iter()
        .map(|&(hour, j)| (hour, j, grams * (j / joules)))
        .collect()
}

/// Adds `joules` in `hour` to a resource's unpriced energy, merging by hour and keeping at
/// most `max` hours (the oldest are merged into the next, so no energy is dropped).
pub fn hold_unpriced(pending: &mut Vec<(u64, f64)>, hour: u64, joules: f64, max: usize) {
    match pending.iter_mut().find(|(h, _)| *h == hour) {
        Some((_, j)) => *j += joules,
        None => {
            pending.push((hour, joules));
            pending.sort_by_key(|(h, _)| *h);
        }
    }
    while pending.len() > max.max(1) {
        let (_, j) = pending.remove(0);
        if let Some(next) = pending.first_mut() {
            next.1 += j;
        }
    }
}

pub fn encode_pending(pending: &[(u64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pending.len() * 16);
    for (hour, joules) in pending {
        out.extend_from_slice(&hour.to_be_bytes());
        out.extend_from_slice(&joules.to_le_bytes());
    }
    out
}

/// The unpriced energy of the resources of one chunk in one value: per resource its id as a
/// length byte and its bytes, the number of hours (2 bytes, little-endian), then
/// [`encode_pending`]'s 16 bytes per hour. One value per chunk, not per resource: while no
/// intensity is known every resource holds energy, and 10 000 values a collection made sled
/// grow (BENCHMARKS.md, "Footprint").
pub fn encode_pending_pack<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a [(u64, f64)])>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, held) in entries {
        let id = &id.as_bytes()[..id.len().min(255)];
        let held = &held[..held.len().min(usize::from(u16::MAX))];
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&(held.len() as u16).to_le_bytes());
        out.extend_from_slice(&encode_pending(held));
    }
    out
}

/// The entries of [`encode_pending_pack`]; `None` for bytes it did not write.
pub fn decode_pending_pack(mut bytes: &[u8]) -> Option<Vec<(String, Unpriced)>> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = bytes.split_first() {
        let id = std::str::from_utf8(rest.get(..len as usize)?).ok()?;
        let rest = &rest[len as usize..];
        let hours = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let held = rest.get(2..2 + hours * 16)?;
        out.push((id.to_owned(), decode_pending(held)));
        bytes = &rest[2 + hours * 16..];
    }
    Some(out)
}

pub fn decode_pending(bytes: &[u8]) -> Vec<(u64, f64)> {
    bytes
        .chunks_exact(16)
        .filter_map(|c| {
            let hour = u64::from_be_bytes(c[..8].try_into().ok()?);
            let joules = f64::from_le_bytes(c[8..].try_into().ok()?);
            Some((hour, joules))
        })
        .collect()
}

/// The two tiers of group buckets. Keys start with the tier byte, so each tier (and each
/// dimension in it) is one contiguous, time-ordered range of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Hourly,
    Daily,
}

impl Tier {
    pub fn byte(self) -> u8 {
        match self {
            Tier::Hourly => b'h',
            Tier::Daily => b'd',
        }
    }

    pub fn width_ms(self) -> u64 {
        match self {
            Tier::Hourly => HOUR_MS,
            Tier::Daily => DAY_MS,
        }
    }

    pub fn start(self, ms: u64) -> u64 {
        ms - ms % self.width_ms()
    }
}

/// Unpriced energy per resource, under `p` + the resource id.
pub const PENDING_PREFIX: u8 = b'p';

/// `tier byte, dimension, NUL, start (u64 big-endian ms), group`: sorted by dimension, then
/// time, so a report and the pruning each read one range.
pub fn key(tier: Tier, dimension: &str, start_ms: u64, group: &str) -> Vec<u8> {
    let mut k = dimension_prefix(tier, dimension);
    k.extend_from_slice(&start_ms.to_be_bytes());
    k.extend_from_slice(group.as_bytes());
    k
}

/// `tier byte, dimension, NUL`: the start of a dimension's range.
pub fn dimension_prefix(tier: Tier, dimension: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + dimension.len() + 8 + 24);
    k.push(tier.byte());
    k.extend_from_slice(dimension.as_bytes());
    k.push(0);
    k
}

/// The parts of a bucket key: dimension, start, group.
pub fn parse_key(key: &[u8]) -> Option<(Tier, &str, u64, &str)> {
    let (&t, rest) = key.split_first()?;
    let tier = match t {
        b'h' => Tier::Hourly,
        b'd' => Tier::Daily,
        _ => return None,
    };
    let nul = rest.iter().position(|b| *b == 0)?;
    let dimension = std::str::from_utf8(&rest[..nul]).ok()?;
    let after = &rest[nul + 1..];
    let start = u64::from_be_bytes(after.get(..8)?.try_into().ok()?);
    let group = std::str::from_utf8(&after[8..]).ok()?;
    Some((tier, dimension, start, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_round_trip_and_refuse_damage() {
        let mut b = Bucket {
            energy_joules: 0.1 + 0.2,
            hours: 5,
            ..Bucket::default()
        };
        b.add_provider("meter");
        let pack = encode_pack([("0a", &b), ("0b", &Bucket::default())]);
        let back = decode_pack(&pack).expect("decodes");
        assert_eq!(
            back,
            vec![
                ("0a".to_owned(), b.clone()),
                ("0b".to_owned(), Bucket::default())
            ]
        );
        // Cut at an entry's end, a pack is shorter but whole.
        let boundary = encode_pack([("0a", &b)]).len();
        for cut in (2..pack.len()).filter(|c| *c != boundary) {
            assert!(decode_pack(&pack[..cut]).is_none(), "cut at {cut}");
        }
    }

    const T0: u64 = 1_795_000_000_000 - 1_795_000_000_000 % DAY_MS;

    #[test]
    fn an_interval_inside_one_hour_is_one_piece() {
        let p = split_interval(Some(T0 + 1000), T0 + 11_000);
        assert_eq!(
            p,
            vec![Piece {
                hour_ms: T0,
                fraction: 1.0,
                seconds: 10.0
            }]
        );
    }

    #[test]
    fn an_interval_across_hours_is_split_by_time() {
        // 10:45 to 12:15: a quarter, then two thirds, then a twelfth... by minutes 15/60/15.
        let from = T0 + 10 * HOUR_MS + 45 * 60_000;
        let to = T0 + 12 * HOUR_MS + 15 * 60_000;
        let p = split_interval(Some(from), to);
        let hours: Vec<u64> = p.iter().map(|x| (x.hour_ms - T0) / HOUR_MS).collect();
        assert_eq!(hours, [10, 11, 12]);
        let fractions: Vec<f64> = p.iter().map(|x| x.fraction).collect();
        assert_eq!(fractions, [15.0 / 90.0, 60.0 / 90.0, 15.0 / 90.0]);
        assert_eq!(p.iter().map(|x| x.seconds).sum::<f64>(), 5400.0);
        assert!((p.iter().map(|x| x.fraction).sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn a_first_sample_lands_in_its_hour_with_no_time() {
        let p = split_interval(None, T0 + 5 * HOUR_MS + 1);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].hour_ms, p[0].seconds), (T0 + 5 * HOUR_MS, 0.0));
        assert_eq!(split_interval(Some(T0 + 9), T0 + 9).len(), 1);
    }

    #[test]
    fn a_gap_of_days_is_split_per_day() {
        let from = T0 + 12 * HOUR_MS;
        let to = T0 + 4 * DAY_MS + 12 * HOUR_MS;
        let p = split_interval(Some(from), to);
        assert_eq!(p.len(), 5);
        assert!(p.iter().all(|x| x.hour_ms % DAY_MS == 0));
        assert_eq!(p[0].fraction, 0.125);
        assert_eq!(p[1].fraction, 0.25);
    }

    #[test]
    fn late_grams_follow_the_energy_of_each_hour() {
        let spread = spread_late_grams(&[(T0, 1.0e6), (T0 + HOUR_MS, 3.0e6)], 100.0);
        assert_eq!(spread, vec![(T0, 1.0e6, 25.0), (T0 + HOUR_MS, 3.0e6, 75.0)]);
        assert!(spread_late_grams(&[], 5.0).is_empty());
    }

    #[test]
    fn unpriced_energy_merges_by_hour_and_keeps_every_joule_when_capped() {
        let mut p = Vec::new();
        hold_unpriced(&mut p, T0 + HOUR_MS, 2.0, 2);
        hold_unpriced(&mut p, T0, 1.0, 2);
        hold_unpriced(&mut p, T0 + HOUR_MS, 2.0, 2);
        assert_eq!(p, vec![(T0, 1.0), (T0 + HOUR_MS, 4.0)]);
        hold_unpriced(&mut p, T0 + 2 * HOUR_MS, 8.0, 2);
        assert_eq!(p, vec![(T0 + HOUR_MS, 5.0), (T0 + 2 * HOUR_MS, 8.0)]);
        assert_eq!(decode_pending(&encode_pending(&p)), p);
    }

    #[test]
    fn buckets_add_up_and_round_trip_bit_for_bit() {
        let mut a = Bucket {
            energy_joules: 3.6e6,
            emissions_grams: 100.0,
            priced_joules: 3.6e6,
            estimated_joules: 0.9e6,
            resource_seconds: 3600.0,
            hours: hour_bit(T0 + 3 * HOUR_MS),
            providers: vec!["meter".into()],
            embodied_grams: 1.467_965_182_648_402,
        };
        let b = Bucket {
            energy_joules: 0.1 + 0.2,
            hours: hour_bit(T0 + 23 * HOUR_MS + 5),
            providers: vec!["grid".into(), "meter".into()],
            ..Bucket::default()
        };
        a.add(&b);
        assert_eq!(a.hours, (1 << 3) | (1 << 23));
        assert_eq!(a.providers, ["grid", "meter"]);
        assert_eq!(a.mean_intensity(), Some(100.0));
        assert!((a.estimated_share() - 0.9e6 / (3.6e6 + 0.1 + 0.2)).abs() < 1e-15);
        let decoded = Bucket::decode(&a.encode()).expect("decodes");
        assert_eq!(decoded, a);
        assert_eq!(decoded.energy_joules.to_bits(), a.energy_joules.to_bits());
        assert_eq!(a.encode().len(), 53 + 1 + 4 + 1 + 5);
        assert_eq!(Bucket::decode(&[2, 0, 0]), None);
        assert_eq!(
            Bucket::decode(&[3; 60]),
            None,
            "a version this host does not know"
        );
        // A bucket stored before embodied emissions: version 1, five figures.
        let mut old = a.encode();
        old[0] = 1;
        old.drain(41..49);
        let decoded = Bucket::decode(&old).expect("version 1 decodes");
        assert_eq!(decoded.embodied_grams, 0.0);
        assert_eq!(decoded.providers, a.providers);
        assert_eq!(decoded.resource_seconds, a.resource_seconds);
        assert_eq!(Bucket::default().mean_intensity(), None);
        assert_eq!(Bucket::default().estimated_share(), 0.0);
    }

    #[test]
    fn providers_are_capped() {
        let mut b = Bucket::default();
        for i in 0..20 {
            b.add_provider(&format!("p{i:02}"));
        }
        assert_eq!(b.providers.len(), MAX_PROVIDERS);
    }

    #[test]
    fn keys_sort_by_dimension_then_time_and_parse_back() {
        let a = key(Tier::Hourly, "project", T0, "acme/p1");
        let b = key(Tier::Hourly, "project", T0 + HOUR_MS, "acme/p0");
        let c = key(Tier::Hourly, "project2", 0, "x");
        assert!(a < b && b < c);
        assert_eq!(
            parse_key(&a),
            Some((Tier::Hourly, "project", T0, "acme/p1"))
        );
        assert_eq!(
            parse_key(&key(Tier::Daily, "label:team", T0, "")),
            Some((Tier::Daily, "label:team", T0, ""))
        );
        assert_eq!(parse_key(b"p123"), None);
    }
}
