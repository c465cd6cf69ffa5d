//! Why a config was refused. Every message reads `FILE:LINE:COLUMN: what is wrong; what to do`,
//! and all semantic problems of a file are reported together, in file order.

use std::fmt;

/// A 1-based line and column (in characters, as editors count them) in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The start of the file, for problems that belong to no particular value.
    pub const START: Position = Position { line: 1, column: 1 };

    /// The position of byte `offset` in `text` (clamped to the text, and to a char boundary).
    pub fn at(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem with a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config file: {source}; check the path and its permissions")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{at}: {problem}; {fix}")]
    Invalid {
        file: String,
        at: Position,
        problem: String,
        fix: String,
    },
}

impl ConfigError {
    /// Where in the file the problem is, when it is in the file.
    pub fn position(&self) -> Option<Position> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Invalid { at, .. } => Some(*at),
        }
    }
}

/// Every problem found in a config file, one per line when displayed.
#[derive(Debug, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects the problems of one file, so a run reports all of them instead of the first.
pub(super) struct Report {
    file: String,
    errors: Vec<ConfigError>,
}

impl Report {
    pub(super) fn new(file: &str) -> Report {
        Report {
            file: file.to_owned(),
            errors: Vec::new(),
        }
    }

    pub(super) fn push(
        &mut self,
        at: Position,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.errors.push(ConfigError::Invalid {
            file: self.file.clone(),
            at,
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// `value` when nothing was reported, else the problems in file order.
    pub(super) fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(value);
        }
        self.errors.sort_by_key(ConfigError::position);
        Err(ConfigErrors(self.errors))
    }
}

/// `a, b, c` for a fix that lists the names to choose from.
pub(super) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(Position::at(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::at(text, 6), Position { line: 2, column: 1 });
        // `é` is two bytes but one column.
        assert_eq!(Position::at(text, 9), Position { line: 2, column: 3 });
        assert_eq!(Position::at(text, 999), Position { line: 3, column: 1 });
    }

    #[test]
    fn errors_display_one_per_line_in_file_order() {
        let mut report = Report::new("x.toml");
        report.push(Position { line: 9, column: 2 }, "second", "fix it");
        report.push(Position::START, "first", "fix that");
        let errors = report.finish(()).expect_err("two problems were reported");
        assert_eq!(
            errors.to_string(),
            "x.toml:1:1: first; fix that\nx.toml:9:2: second; fix it"
        );
    }
}
