//! `${ENV_VAR}` references in setting values: resolved from the environment at load time, so
//! secrets stay out of config files. `$${` writes a literal `${`.

/// A setting value with its references resolved.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Expanded {
    pub value: String,
    /// Whether any part of the value came from the environment.
    pub secret: bool,
    /// The values the references resolved to, each a secret of its own (a plugin may echo
    /// the token without the `Bearer ` around it).
    pub resolved: Vec<String>,
}

/// A reference that could not be resolved; `reference` is its text, to find it in the file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ExpandError {
    Unterminated { reference: String },
    InvalidName { reference: String, name: String },
    Missing { reference: String, name: String },
}

impl ExpandError {
    pub(super) fn reference(&self) -> &str {
        match self {
            ExpandError::Unterminated { reference }
            | ExpandError::InvalidName { reference, .. }
            | ExpandError::Missing { reference, .. } => reference,
        }
    }
}

/// Resolves every `${NAME}` in `value` with `env`, reporting every reference that fails.
pub(super) fn expand(
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, Vec<ExpandError>> {
    let mut out = String::with_capacity(value.len());
    let mut errors = Vec::new();
    let mut secret = false;
    let mut resolved = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let at = &rest[i..];
        if let Some(after) = at.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body) = at.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                errors.push(ExpandError::Unterminated {
                    reference: at.to_owned(),
                });
                rest = "";
                break;
            };
            let name = &body[..end];
            let reference = format!("${{{name}}}");
            if !is_variable_name(name) {
                errors.push(ExpandError::InvalidName {
                    reference,
                    name: name.to_owned(),
                });
            } else if let Some(v) = env(name) {
                out.push_str(&v);
                resolved.push(v);
                secret = true;
            } else {
                errors.push(ExpandError::Missing {
                    reference,
                    name: name.to_owned(),
                });
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &at[1..];
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Expanded {
            value: out,
            secret,
            resolved,
        })
    } else {
        Err(errors)
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn ok(value: &str) -> Expanded {
        expand(value, &env).expect("the value expands")
    }

    #[test]
    fn references_are_resolved_and_mark_the_value_secret() {
        assert_eq!(
            ok("Bearer ${TOKEN}!"),
            Expanded {
                value: "Bearer s3cret!".into(),
                secret: true,
                resolved: vec!["s3cret".into()],
            }
        );
        assert_eq!(
            ok("${EMPTY}"),
            Expanded {
                value: String::new(),
                secret: true,
                resolved: vec![String::new()],
            }
        );
    }

    #[test]
    fn plain_dollars_and_escapes_are_kept_and_not_secret() {
        assert_eq!(
            ok("pa$$word $5 $${TOKEN} $"),
            Expanded {
                value: "pa$$word $5 ${TOKEN} $".into(),
                secret: false,
                resolved: Vec::new(),
            }
        );
    }

    #[test]
    fn every_failing_reference_is_reported() {
        let errors = expand("${NOPE} ${TOKEN} ${A-B} ${OPEN", &env).expect_err("three fail");
        assert_eq!(
            errors,
            vec![
                ExpandError::Missing {
                    reference: "${NOPE}".into(),
                    name: "NOPE".into()
                },
                ExpandError::InvalidName {
                    reference: "${A-B}".into(),
                    name: "A-B".into()
                },
                ExpandError::Unterminated {
                    reference: "${OPEN".into()
                },
            ]
        );
    }
}
