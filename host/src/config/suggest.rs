//! "Did you mean": the known name closest to a misspelt one, by edit distance.

/// The candidate closest to `word`, when it is close enough to be a likely typo: at most two
/// edits, and fewer than half of `word`'s characters (so `a` does not suggest `b`). A
/// difference of `-` and `_` or of letter case costs nothing.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = |s: &str| -> Vec<char> {
        s.chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let word_chars = norm(word);
    candidates
        .into_iter()
        .map(|c| (distance(&word_chars, &norm(c)), c))
        .filter(|(d, _)| *d <= 2 && *d * 2 < word_chars.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, with a swap of two neighbours counted as one edit.
fn distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 4] = ["api_token", "base_url", "cache_seconds", "emission_factor"];

    #[test]
    fn typos_find_the_declared_key() {
        assert_eq!(closest("api_tokn", KEYS), Some("api_token"));
        assert_eq!(closest("base_ulr", KEYS), Some("base_url"));
        assert_eq!(closest("Cache-Seconds", KEYS), Some("cache_seconds"));
        assert_eq!(closest("emision_factor", KEYS), Some("emission_factor"));
    }

    #[test]
    fn unrelated_and_short_words_suggest_nothing() {
        assert_eq!(closest("region", KEYS), None);
        assert_eq!(closest("x", ["y", "z"]), None);
        assert_eq!(closest("ab", ["cd"]), None);
        assert_eq!(closest("anything", [] as [&str; 0]), None);
    }
}
