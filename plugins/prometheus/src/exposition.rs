//! The Prometheus text exposition format (version 0.0.4), read directly from an exporter's
//! `/metrics`: `name{label="value",...} value [timestamp_ms]`, `#` comments. Only the
//! families asked for are parsed; the rest (a Kepler endpoint lists every process) is skipped
//! by name without looking at its labels.

use crate::series::Series;
use crate::template::Labels;

/// The samples of the families in `wanted`; `default_ms` for samples without a timestamp.
/// A malformed line of a wanted family fails the whole read, naming the line, as a scrape by
/// Prometheus would.
pub fn parse(text: &str, wanted: &[&str], default_ms: u64) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !wanted.contains(&name) {
            continue;
        }
        let fail = |why: &str| format!("line {}: {why}: `{line}`", index + 1);
        let mut labels = Labels::new();
        let mut rest = &line[name_end..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = parse_labels(after, &mut labels).map_err(|e| fail(&e))?;
        }
        labels.insert("__name__".to_owned(), name.to_owned());
        let mut fields = rest.split_whitespace();
        let value = fields.next().ok_or_else(|| fail("no value"))?;
        let value = parse_value(value).ok_or_else(|| fail("the value is not a number"))?;
        let at_ms = match fields.next() {
            None => default_ms,
            Some(ts) => ts
                .parse::<i64>()
                .ok()
                .and_then(|t| u64::try_from(t).ok())
                .ok_or_else(|| fail("the timestamp is not a whole number of milliseconds"))?,
        };
        if fields.next().is_some() {
            return Err(fail("unexpected text after the timestamp"));
        }
        out.push(Series {
            labels,
            value,
            at_ms,
        });
    }
    Ok(out)
}

/// Parses `a="x",b="y"}` into `labels`; returns what follows the `}`.
fn parse_labels<'a>(mut rest: &'a str, labels: &mut Labels) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let eq = rest.find('=').ok_or("a label without `=`")?;
        let name = rest[..eq].trim();
        if name.is_empty() {
            return Err("a label without a name".to_owned());
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or("a label value without its opening quote")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("a label value without its closing quote".to_owned()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("a label value ends in `\\`".to_owned()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by `,`".to_owned());
        }
    }
}

/// Go's float syntax as exporters write it, including `NaN`, `+Inf` and `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wanted_families_with_labels_and_timestamps() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\n\
                    a_total{zone=\"package\",path=\"/x\\\"y\"} 12.5\n\
                    a_total{zone=\"dram\",} 1e3 1700000000000\n\
                    other{broken 1\nb 7\n";
        let got = parse(text, &["a_total", "b"], 5).expect("ok");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].label("path"), Some("/x\"y"));
        assert_eq!((got[0].value, got[0].at_ms), (12.5, 5));
        assert_eq!((got[1].value, got[1].at_ms), (1000.0, 1_700_000_000_000));
        assert_eq!((got[2].name(), got[2].value), ("b", 7.0));
    }

    #[test]
    fn names_the_malformed_line() {
        let err = parse("ok 1\nb{x=\"1\" 2\n", &["b"], 0).expect_err("an error");
        assert!(err.starts_with("line 2:"), "{err}");
        let err = parse("b twelve\n", &["b"], 0).expect_err("an error");
        assert!(err.contains("not a number"), "{err}");
    }
}
