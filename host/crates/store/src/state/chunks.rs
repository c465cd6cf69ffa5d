//! How the counters are laid out in sled: one account's counters split into at most 17 chunks
//! by the first character of the resource id (a hex digit of its hash, so chunks are even),
//! each chunk one sled value in a compact binary layout.
//!
//! Why not one value per resource: sled 0.34 keeps memory for every page a write touched, so
//! rewriting 10 000 small values per collection grew the process by about 13 MiB per save
//! without bound (BENCHMARKS.md, "Footprint"); 160 values of a few KiB stay flat and are written
//! about 50 times faster. Why not one value per account: a large account would rewrite
//! megabytes for every save; a chunk of a 100 000-resource account is about 400 KiB.

use super::counters::{Counters, Footprint, LastComponent, LastReading};
use super::keys;
use super::topology::ResourceId;

/// Bumped when the layout changes; a chunk of another version is quarantined, not misread.
/// Format 2 added the footprint counters after each entry (overhead, embodied, components);
/// format 1 chunks, written before them, still read (with an empty footprint).
const FORMAT: u8 = 2;
const FORMAT_BEFORE_FOOTPRINT: u8 = 1;
/// Chunk names: the 16 hex digits, and one for an id that does not start with one (none does
/// today; a hand-edited or future id must still land somewhere).
pub const NAMES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f", "_",
];

const HAS_LAST: u8 = 1;
const HAS_LAST_ENERGY: u8 = 2;
const HAS_LAST_POWER: u8 = 4;
/// In the footprint's flags byte: one bit per component with a last reading, then these.
const HAS_FOOTPRINT: u8 = 1 << 4;
const HAS_EMBODIED_AT: u8 = 1 << 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("chunk format {0} is not the {FORMAT} this carbonaut reads")]
    Format(u8),
    #[error("chunk ends in the middle of an entry at byte {0}")]
    Truncated(usize),
    #[error("resource id at byte {0} is not UTF-8")]
    Id(usize),
}

/// The chunk a resource's counters are stored in (by its [`ResourceId`]'s text). The history
/// packs resources' buckets by the same chunks.
pub fn name_of(id: &str) -> &'static str {
    let first = id.as_bytes().first().copied().unwrap_or(b'_');
    NAMES
        .iter()
        .find(|n| n.as_bytes()[0] == first)
        .copied()
        .unwrap_or("_")
}

/// The key of one chunk of `account`. Every chunk key of an account starts with
/// `keys::encode(&[account])`, so an account's chunks are one prefix scan.
pub fn key(account: &str, chunk: &str) -> Vec<u8> {
    keys::encode(&[account, chunk])
}

/// The account and chunk of a key written by [`key`].
pub fn parse_key(key: &[u8]) -> Option<(String, String)> {
    match keys::decode(key)?.as_slice() {
        [account, chunk] if NAMES.contains(&chunk.as_str()) => {
            Some((account.clone(), chunk.clone()))
        }
        _ => None,
    }
}

/// The writes that replace everything stored for one account by `counters`: each chunk's
/// value, or `None` to remove a chunk that has no counters left.
pub fn account_writes<'a>(
    account: &str,
    counters: impl IntoIterator<Item = (&'a ResourceId, &'a Counters)>,
) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut values: [Vec<u8>; NAMES.len()] = Default::default();
    for (id, c) in counters {
        let slot = NAMES
            .iter()
            .position(|n| *n == name_of(&id.0))
            .unwrap_or(NAMES.len() - 1);
        let value = &mut values[slot];
        if value.is_empty() {
            value.push(FORMAT);
        }
        encode_entry(value, id, c);
    }
    NAMES
        .iter()
        .zip(values)
        .map(|(name, value)| (key(account, name), (!value.is_empty()).then_some(value)))
        .collect()
}

fn encode_entry(out: &mut Vec<u8>, id: &ResourceId, c: &Counters) {
    // Ids are 16 hex characters; a longer one is cut at 255 bytes rather than mis-framed.
    let id = &id.0.as_bytes()[..id.0.len().min(255)];
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    for v in [
        c.energy_joules_total,
        c.emissions_grams_total,
        c.unattributed_joules,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    match c.last {
        None => out.push(0),
        Some(last) => {
            out.push(HAS_LAST | last_flags(last.energy_joules, last.power_watts));
            for v in [last.energy_joules, last.power_watts].into_iter().flatten() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&last.read_at_ms.to_le_bytes());
        }
    }
    encode_footprint(out, c.footprint.as_deref());
}

fn last_flags(energy: Option<f64>, power: Option<f64>) -> u8 {
    let mut flags = 0;
    if energy.is_some() {
        flags |= HAS_LAST_ENERGY;
    }
    if power.is_some() {
        flags |= HAS_LAST_POWER;
    }
    flags
}

/// One byte (0) for a resource without any footprint counter, which is most of them.
fn encode_footprint(out: &mut Vec<u8>, f: Option<&Footprint>) {
    let Some(f) = f.filter(|f| !f.is_empty()) else {
        out.push(0);
        return;
    };
    let mut flags = HAS_FOOTPRINT;
    for (i, last) in f.last_components.iter().enumerate() {
        if last.is_some() {
            flags |= 1 << i;
        }
    }
    if f.embodied_at_ms.is_some() {
        flags |= HAS_EMBODIED_AT;
    }
    out.push(flags);
    for v in [f.overhead_joules_total, f.embodied_grams_total]
        .into_iter()
        .chain(f.component_joules_total)
    {
        out.extend_from_slice(&v.to_le_bytes());
    }
    if let Some(at) = f.embodied_at_ms {
        out.extend_from_slice(&at.to_le_bytes());
    }
    for last in f.last_components.iter().flatten() {
        out.push(last_flags(last.energy_joules, last.power_watts));
        for v in [last.energy_joules, last.power_watts].into_iter().flatten() {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn decode_footprint(reader: &mut Reader<'_>) -> Result<Option<Box<Footprint>>, ChunkError> {
    let flags = reader.byte()?;
    let mut f = Footprint::default();
    if flags & HAS_FOOTPRINT == 0 {
        return Ok(None);
    }
    f.overhead_joules_total = reader.f64()?;
    f.embodied_grams_total = reader.f64()?;
    for total in &mut f.component_joules_total {
        *total = reader.f64()?;
    }
    if flags & HAS_EMBODIED_AT != 0 {
        f.embodied_at_ms = Some(u64::from_le_bytes(reader.array()?));
    }
    for (i, last) in f.last_components.iter_mut().enumerate() {
        if flags & (1 << i) == 0 {
            continue;
        }
        let has = reader.byte()?;
        let energy_joules = (has & HAS_LAST_ENERGY != 0)
            .then(|| reader.f64())
            .transpose()?;
        let power_watts = (has & HAS_LAST_POWER != 0)
            .then(|| reader.f64())
            .transpose()?;
        *last = Some(LastComponent {
            energy_joules,
            power_watts,
        });
    }
    Ok(Some(Box::new(f)))
}

/// The entries of one chunk, bit for bit as written.
pub fn decode(bytes: &[u8]) -> Result<Vec<(ResourceId, Counters)>, ChunkError> {
    let mut reader = Reader { bytes, at: 0 };
    let format = reader.byte()?;
    if format != FORMAT && format != FORMAT_BEFORE_FOOTPRINT {
        return Err(ChunkError::Format(format));
    }
    let mut out = Vec::new();
    while reader.at < bytes.len() {
        let start = reader.at;
        let len = reader.byte()? as usize;
        let id = std::str::from_utf8(reader.take(len)?).map_err(|_| ChunkError::Id(start))?;
        let mut c = Counters {
            energy_joules_total: reader.f64()?,
            emissions_grams_total: reader.f64()?,
            unattributed_joules: reader.f64()?,
            last: None,
            footprint: None,
        };
        let flags = reader.byte()?;
        if flags & HAS_LAST != 0 {
            let energy_joules = (flags & HAS_LAST_ENERGY != 0)
                .then(|| reader.f64())
                .transpose()?;
            let power_watts = (flags & HAS_LAST_POWER != 0)
                .then(|| reader.f64())
                .transpose()?;
            c.last = Some(LastReading {
                energy_joules,
                power_watts,
                read_at_ms: u64::from_le_bytes(reader.array()?),
            });
        }
        if format == FORMAT {
            c.footprint = decode_footprint(&mut reader)?;
        }
        out.push((ResourceId(id.into()), c));
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChunkError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(ChunkError::Truncated(self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ChunkError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ChunkError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn f64(&mut self) -> Result<f64, ChunkError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(seed: f64, last: Option<LastReading>) -> Counters {
        Counters {
            energy_joules_total: seed,
            emissions_grams_total: seed * 7.0,
            unattributed_joules: seed / 3.0,
            last,
            footprint: None,
        }
    }

    #[test]
    fn footprint_counters_round_trip_and_format_1_still_reads() {
        let id = ResourceId("1abc".into());
        let mut c = counters(3.0, None);
        c.footprint = Some(Box::new(Footprint {
            overhead_joules_total: 0.1 + 0.2,
            embodied_grams_total: 1.467_965_182_648_402,
            embodied_at_ms: Some(1_700_000_000_000),
            component_joules_total: [1.0, 2.0, 3.5, 0.0],
            last_components: [
                Some(LastComponent {
                    energy_joules: Some(9.0),
                    power_watts: None,
                }),
                None,
                Some(LastComponent {
                    energy_joules: None,
                    power_watts: Some(300.0),
                }),
                None,
            ],
        }));
        let (_, value) = account_writes("a", [(&id, &c)]).remove(1);
        let value = value.expect("chunk 1");
        assert_eq!(
            decode(&value).expect("decodes"),
            vec![(id.clone(), c.clone())]
        );
        for cut in 2..value.len() {
            assert!(decode(&value[..cut]).is_err(), "cut at {cut}");
        }
        // A chunk written before the footprint existed: the same bytes without its byte.
        let old = counters(3.0, None);
        let (_, v2) = account_writes("a", [(&id, &old)]).remove(1);
        let mut v1 = v2.expect("chunk");
        v1[0] = FORMAT_BEFORE_FOOTPRINT;
        v1.pop();
        assert_eq!(decode(&v1).expect("format 1"), vec![(id, old)]);
    }

    #[test]
    fn every_shape_of_counters_round_trips_bit_for_bit() {
        let shapes = [
            None,
            Some(LastReading {
                energy_joules: Some(37.236000061035156),
                power_watts: None,
                read_at_ms: 1_700_000_000_123,
            }),
            Some(LastReading {
                energy_joules: None,
                power_watts: Some(0.1 + 0.2),
                read_at_ms: u64::MAX,
            }),
            Some(LastReading {
                energy_joules: Some(f64::MIN_POSITIVE),
                power_watts: Some(4.0e10 / 3.0),
                read_at_ms: 0,
            }),
        ];
        let entries: Vec<(ResourceId, Counters)> = shapes
            .iter()
            .enumerate()
            .map(|(i, last)| {
                (
                    ResourceId(format!("{i:x}123456789abcdef").into()),
                    counters(0.1 * i as f64 + 1e-300, *last),
                )
            })
            .collect();
        let writes = account_writes("acme", entries.iter().map(|(id, c)| (id, c)));
        assert_eq!(writes.len(), NAMES.len());
        let mut back = Vec::new();
        for (key, value) in writes {
            let (account, chunk) = parse_key(&key).expect("a chunk key");
            assert_eq!(account, "acme");
            if let Some(value) = value {
                for (id, c) in decode(&value).expect("decodes") {
                    assert_eq!(name_of(&id.0), chunk, "stored in its own chunk");
                    back.push((id, c));
                }
            }
        }
        back.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(back.len(), entries.len());
        for ((id, c), (id2, c2)) in entries.iter().zip(&back) {
            assert_eq!(id, id2);
            assert_eq!(
                c.energy_joules_total.to_bits(),
                c2.energy_joules_total.to_bits()
            );
            assert_eq!(c, c2);
        }
    }

    #[test]
    fn empty_chunks_are_removed_and_odd_ids_have_a_chunk() {
        let odd = ResourceId("Zebra".into());
        let writes = account_writes("a", [(&odd, &Counters::default())]);
        let kept: Vec<&str> = writes
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| NAMES[writes.iter().position(|(k2, _)| k2 == k).unwrap_or(0)])
            .collect();
        assert_eq!(kept, ["_"]);
        assert_eq!(writes.iter().filter(|(_, v)| v.is_none()).count(), 16);
    }

    #[test]
    fn damaged_chunks_are_errors_not_wrong_numbers() {
        let id = ResourceId("0abc".into());
        let c = counters(5.0, None);
        let (_, value) = account_writes("a", [(&id, &c)]).remove(0);
        let value = value.expect("chunk 0");
        // One byte is the format alone: an empty chunk, which is valid.
        for cut in 2..value.len() {
            assert!(
                matches!(decode(&value[..cut]), Err(ChunkError::Truncated(_))),
                "cut at {cut}"
            );
        }
        let mut other = value.clone();
        other[0] = 9;
        assert_eq!(decode(&other), Err(ChunkError::Format(9)));
        assert_eq!(decode(&value).expect("whole"), vec![(id, c)]);
    }
}
