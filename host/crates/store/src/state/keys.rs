//! Unambiguous encodings of several strings into one key: each part is written as its length
//! (4 bytes, big-endian) followed by its bytes, so no content of a part (a NUL, a `/`) can make
//! two different tuples encode alike, and decoding gives back exactly the parts written. Keys
//! of one account share a prefix (its encoded name), so sled can scan an account in order.

/// Encodes `parts` into one key.
pub fn encode(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for part in parts {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&part.as_bytes()[..len as usize]);
    }
    out
}

/// The parts of a key written by [`encode`]; `None` for bytes it did not write.
pub fn decode(mut key: &[u8]) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    while !key.is_empty() {
        let (len, rest) = key.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return None;
        }
        let (part, rest) = rest.split_at(len);
        parts.push(String::from_utf8(part.to_vec()).ok()?);
        key = rest;
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_inside_parts_cannot_collide() {
        assert_ne!(encode(&["N", "x\0y"]), encode(&["N\0x", "y"]));
        assert_ne!(encode(&["ab", ""]), encode(&["a", "b"]));
        for parts in [
            vec!["N", "x\0y", "z"],
            vec!["", "", ""],
            vec!["é/ü", "\u{1}"],
        ] {
            let key = encode(&parts);
            assert_eq!(
                decode(&key),
                Some(parts.iter().map(|p| p.to_string()).collect())
            );
        }
    }

    #[test]
    fn bytes_it_did_not_write_are_refused() {
        assert_eq!(decode(b"\0\0\0\x09short"), None);
        assert_eq!(decode(b"\0\0"), None);
        assert_eq!(decode(&[0, 0, 0, 1, 0xff]), None);
    }
}
