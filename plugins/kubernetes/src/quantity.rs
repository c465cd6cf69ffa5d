//! Kubernetes resource quantities (`k8s.io/apimachinery/pkg/api/resource`), exactly: a signed
//! decimal number (`1`, `1.5`, `.5`, `1.`) then a binary suffix (`Ki` to `Ei`), a decimal
//! suffix (`n`, `u`, `m`, none, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`,
//! `E-3`, `E+6`). The value is rounded up to a whole unit, as `Quantity.Value()` rounds.

/// The value of `text` rounded up to an integer; `None` for text outside the grammar, a
/// negative value, or one beyond `u128`.
pub fn ceil(text: &str) -> Option<u128> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') {
        return None;
    }
    let (mut exp10, exp2) = suffix_exponents(suffix)?;
    // All digits as one integer, scaled down by the fraction's length.
    let mut mantissa: u128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
    }
    exp10 -= i32::try_from(fraction.len()).ok()?;
    if negative && mantissa != 0 {
        return None;
    }
    let scaled = mantissa.checked_mul(1u128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        scaled.checked_mul(10u128.checked_pow(exp10.unsigned_abs())?)
    } else {
        // A divisor beyond u128 leaves any non-zero value below one unit: it rounds up to 1.
        match 10u128.checked_pow(exp10.unsigned_abs()) {
            Some(divisor) => Some(scaled.div_ceil(divisor)),
            None => Some(u128::from(scaled > 0)),
        }
    }
}

/// (power of ten, power of two) of a suffix.
fn suffix_exponents(suffix: &str) -> Option<(i32, u32)> {
    Some(match suffix {
        "" => (0, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        _ => {
            // `e` or `E` then a signed integer.
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (exponent.parse().ok()?, 0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::ceil;

    /// Inputs of `TestQuantityParse` in kubernetes/apimachinery
    /// `pkg/api/resource/quantity_test.go` (master, 2025), with the value each stands for
    /// rounded up to an integer (`Quantity.Value()`); the fractions are worked out by hand.
    #[test]
    fn parses_apimachinery_test_inputs() {
        const KI: u128 = 1 << 10;
        for (input, value) in [
            ("0", 0),
            ("0n", 0),
            ("0Ki", 0),
            ("1", 1),
            ("8Ki", 8 * KI),
            ("7Mi", 7 << 20),
            ("6Gi", 6 << 30),
            ("5Ti", 5 << 40),
            ("4Pi", 4 << 50),
            ("3Ei", 3 << 60),
            ("5n", 1),
            ("4u", 1),
            ("3m", 1),
            ("50k", 50_000),
            ("7M", 7_000_000),
            ("300T", 300_000_000_000_000),
            ("2P", 2_000_000_000_000_000),
            ("1E", 1_000_000_000_000_000_000),
            ("12E", 12_000_000_000_000_000_000),
            ("1E-3", 1),
            ("1e3", 1000),
            ("1E18", 1_000_000_000_000_000_000),
            ("100.035k", 100_035),
            ("0.5", 1),
            ("0.0005k", 1),
            ("0.5e-1", 1),
            ("10.035M", 10_035_000),
            ("1.2e3", 1200),
            ("1.3E+6", 1_300_000),
            ("1.7E18", 1_700_000_000_000_000_000),
            ("7.123456M", 7_123_456),
            ("2.5P", 2_500_000_000_000_000),
            ("1.01E", 1_010_000_000_000_000_000),
            // 102435.84 bytes.
            ("100.035Ki", 102_436),
            ("0.5Mi", 512 * KI),
            // 53687091.2 and 27487790694.4 bytes.
            ("0.05Gi", 53_687_092),
            ("0.025Ti", 27_487_790_695),
            (".001", 1),
            ("1.", 1),
            ("1.G", 1_000_000_000),
            ("+4", 4),
        ] {
            assert_eq!(ceil(input), Some(value), "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for bad in [
            "",
            "Non-Numeric",
            "1.2.3",
            "4x",
            "1Kb",
            "1e",
            "1e+",
            "1ee3",
            "1 Gi",
            "-1",
            "-0.5Gi",
        ] {
            assert_eq!(ceil(bad), None, "{bad}");
        }
        assert_eq!(ceil("-0"), Some(0));
    }
}
