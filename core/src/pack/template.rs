//! Reply templates: text with `{office.name}`, `{nomor}` or `{nomor|upper}`
//! placeholders, `{{` and `}}` for literal braces.

use std::collections::BTreeMap;

/// A parsed reply template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var { name: String, filter: Filter },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    None,
    Upper,
    Lower,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset in the template where the problem starts.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `source`.
    ///
    /// # Errors
    /// An unclosed `{`, an empty or malformed placeholder, or an unknown filter.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let rest = &source[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(TemplateError {
                            offset: i,
                            message: "unclosed `{` in reply".to_owned(),
                        });
                    };
                    let inner = rest[..end].trim();
                    let (name, filter) = match inner.split_once('|') {
                        None => (inner, Filter::None),
                        Some((n, "upper")) => (n.trim(), Filter::Upper),
                        Some((n, "lower")) => (n.trim(), Filter::Lower),
                        Some((_, f)) => {
                            return Err(TemplateError {
                                offset: i,
                                message: format!("unknown filter `{f}` (known: upper, lower)"),
                            });
                        }
                    };
                    let valid = !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    if !valid {
                        return Err(TemplateError {
                            offset: i,
                            message: format!("malformed placeholder `{{{inner}}}`"),
                        });
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var {
                        name: name.to_owned(),
                        filter,
                    });
                    // Skip the placeholder's characters.
                    while let Some(&(j, _)) = chars.peek() {
                        if j > i + end + 1 {
                            break;
                        }
                        chars.next();
                    }
                }
                _ => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        Ok(Self {
            parts,
            source: source.to_owned(),
        })
    }

    /// The names of the variables the template uses, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { name, .. } => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The template as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with `vars`; a variable without a value renders as nothing.
    #[must_use]
    pub fn render(&self, vars: &BTreeMap<String, String>) -> String {
        self.render_with(|name| vars.get(name).map(String::as_str))
    }

    /// Renders, asking `lookup` for each variable's value; a variable
    /// without a value renders as nothing.
    #[must_use]
    pub fn render_with<'v>(&self, lookup: impl Fn(&str) -> Option<&'v str>) -> String {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var { name, filter } => {
                    let value = lookup(name).unwrap_or("");
                    match filter {
                        Filter::None => out.push_str(value),
                        Filter::Upper => out.push_str(&value.to_uppercase()),
                        Filter::Lower => out.push_str(&value.to_lowercase()),
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_variables_filters_and_braces() {
        let t = Template::parse("Tiket {nomor|upper} di {office.name} {{ok}}").unwrap();
        let vars = BTreeMap::from([
            ("nomor".to_owned(), "adu-2026-000001".to_owned()),
            ("office.name".to_owned(), "Disperindag".to_owned()),
        ]);
        assert_eq!(t.render(&vars), "Tiket ADU-2026-000001 di Disperindag {ok}");
        assert_eq!(t.variables().collect::<Vec<_>>(), ["nomor", "office.name"]);
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["{office.name", "{}", "{a b}", "{x|shout}"] {
            assert!(Template::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
