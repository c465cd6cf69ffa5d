//! The account → shard assignment: jump consistent hash of the FNV-1a-64 of the account name,
//! the pair kube-state-metrics uses (`hash/fnv` New64a and github.com/dgryski/go-jump), so
//! going from N to N+1 shards moves about 1/(N+1) of the accounts and no account moves
//! between two shards that both stay.

/// FNV-1a, 64 bits, of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent Hash
/// Algorithm", 2014): the bucket in `0..buckets` of `key`. Written as go-jump writes it,
/// floating point included, so both pick the same bucket. `buckets` of 0 is treated as 1.
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets.max(1)) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // b is in 0..buckets, so it fits.
    u32::try_from(b).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        // From the FNV reference test suite (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn jump_matches_go_jump_and_the_reference_code() {
        // go-jump's jump_test.go: "Generated from the reference C++ code", one row per key,
        // bucket counts 1, 2, 3, ...
        let rows: [(u64, &[u32]); 4] = [
            (0, &[0; 20]),
            (
                1,
                &[0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17],
            ),
            (
                0xdead_beef,
                &[0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16],
            ),
            (
                0x0ddc_0ffe_ebad_f00d,
                &[0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15],
            ),
        ];
        for (key, buckets) in rows {
            for (i, want) in buckets.iter().enumerate() {
                assert_eq!(jump(key, i as u32 + 1), *want, "jump({key}, {})", i + 1);
            }
        }
        // go-jump's golden values (from Guava).
        let golden100 = [
            0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83,
        ];
        for (key, want) in golden100.iter().enumerate() {
            assert_eq!(jump(key as u64, 100), *want, "jump({key}, 100)");
        }
        for (key, buckets, want) in [
            (10_863_919_174_838_991, 11, 6),
            (2_016_238_256_797_177_309, 11, 3),
            (1_673_758_223_894_951_030, 11, 5),
            (2, 100_001, 80_343),
            (2201, 100_001, 22_152),
            (2202, 100_001, 15_018),
        ] {
            assert_eq!(jump(key, buckets), want, "jump({key}, {buckets})");
        }
    }

    fn owners(names: &[String], shards: u32) -> Vec<u32> {
        names
            .iter()
            .map(|n| jump(fnv1a64(n.as_bytes()), shards))
            .collect()
    }

    #[test]
    fn adding_a_shard_moves_about_one_in_n_and_only_to_the_new_shard() {
        let names: Vec<String> = (0..10_000).map(|i| format!("account-{i}")).collect();
        for n in 1..12 {
            let before = owners(&names, n);
            let after = owners(&names, n + 1);
            let moved: Vec<usize> = (0..names.len())
                .filter(|&i| before[i] != after[i])
                .collect();
            for &i in &moved {
                assert_eq!(after[i], n, "an account moved between two old shards");
            }
            let share = moved.len() as f64 / names.len() as f64;
            let ideal = 1.0 / f64::from(n + 1);
            assert!(
                (share - ideal).abs() < 0.02,
                "{n} → {} shards moved {share:.3} of the accounts, ideal {ideal:.3}",
                n + 1
            );
        }
    }

    #[test]
    fn shards_get_even_shares() {
        let names: Vec<String> = (0..10_000).map(|i| format!("team-{i}-prod")).collect();
        let shards = 10;
        let mut counts = vec![0_usize; shards as usize];
        for owner in owners(&names, shards) {
            counts[owner as usize] += 1;
        }
        for (shard, count) in counts.iter().enumerate() {
            assert!(
                (800..1200).contains(count),
                "shard {shard} owns {count} of 10 000 accounts"
            );
        }
    }
}
