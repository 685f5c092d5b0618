//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, any other
//! context key, defaults (`${aws:PrincipalTag/team, 'shared'}`) and the
//! escapes `${*}`, `${?}`, `${$}`.
//!
//! Variables are substituted only in documents of `Version` `2012-10-17`;
//! under `2008-10-17` (or no version) `${...}` is ordinary text. Rules (IAM
//! User Guide, "IAM policy elements: Variables and tags"):
//! - key names are case-insensitive; surrounding spaces are ignored;
//! - a default is single-quoted, `''` inside it is one quote, and it is used
//!   when the key is absent, empty or multi-valued;
//! - substitution happens once: a value containing `${...}` stays as it is;
//! - a variable that resolves to nothing makes its element match nothing.

use std::borrow::Cow;

use super::context::Context;
use super::matcher::{Tok, match_tokens, push_literal, push_pattern};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as written; in patterns its `*` and `?` are wildcards.
    Text(String),
    /// `${*}`, `${?}`, `${$}`: the character itself, never a wildcard.
    Escaped(char),
    /// `${key}` or `${key, 'default'}`.
    Var {
        /// The context key, as written (looked up case-insensitively).
        key: String,
        /// The default used when the key has no single value.
        default: Option<String>,
    },
}

/// A string that may contain policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; `substitute` is false under `Version` 2008-10-17, where
    /// the text is taken literally.
    pub fn parse(text: &str, substitute: bool) -> Result<Self, String> {
        if !substitute || !text.contains("${") {
            return Ok(Self {
                parts: vec![Part::Text(text.to_string())],
            });
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(
                    rest.get(..start).unwrap_or_default().to_string(),
                ));
            }
            let after = rest.get(start + 2..).unwrap_or_default();
            let (part, consumed) = parse_variable(after)?;
            parts.push(part);
            rest = after.get(consumed..).unwrap_or_default();
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// The pieces of the template.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// True when the template has a `${key}` variable (escapes do not count).
    pub fn has_variables(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var { .. }))
    }

    /// True when the template is plain text with nothing to substitute.
    pub fn is_plain(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Text(_)] | [])
    }

    /// The keys of the variables.
    pub fn variable_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { key, .. } => Some(key.as_str()),
            _ => None,
        })
    }

    /// Substitutes into a plain string (escapes become their character).
    /// `None` when a variable has no value and no default.
    pub fn resolve<'a>(&'a self, context: &Context) -> Option<Cow<'a, str>> {
        if let [Part::Text(text)] = self.parts.as_slice() {
            return Some(Cow::Borrowed(text));
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Escaped(c) => out.push(*c),
                Part::Var { key, default } => {
                    out.push_str(lookup(context, key, default.as_deref())?)
                }
            }
        }
        Some(Cow::Owned(out))
    }

    /// Substitutes into wildcard tokens: text keeps its `*`/`?` wildcards,
    /// escapes and substituted values are literal. `None` when a variable has
    /// no value and no default.
    pub fn resolve_tokens(&self, context: &Context) -> Option<Vec<Tok>> {
        let mut toks = Vec::new();
        self.resolve_tokens_into(context, &mut toks).then_some(toks)
    }

    /// Like [`Template::resolve_tokens`], into `toks` (cleared first) so that
    /// a caller can reuse one buffer; false when a variable has no value.
    pub fn resolve_tokens_into(&self, context: &Context, toks: &mut Vec<Tok>) -> bool {
        toks.clear();
        for part in &self.parts {
            match part {
                Part::Text(text) => push_pattern(toks, text),
                Part::Escaped(c) => push_literal(toks, c.encode_utf8(&mut [0u8; 4])),
                Part::Var { key, default } => match lookup(context, key, default.as_deref()) {
                    Some(value) => push_literal(toks, value),
                    None => return false,
                },
            }
        }
        true
    }

    /// Does `text` match this template as a wildcard pattern (variables
    /// substituted from `context`, case-sensitive)? A variable without value
    /// matches nothing. Reuses a per-thread token buffer: no allocation on
    /// the request path.
    pub fn matches(&self, context: &Context, text: &str) -> bool {
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<Tok>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut toks) => {
                self.resolve_tokens_into(context, &mut toks) && match_tokens(&toks, text)
            }
            // Not reachable (matching does not re-enter), but never panic.
            Err(_) => self
                .resolve_tokens(context)
                .is_some_and(|toks| match_tokens(&toks, text)),
        })
    }

    /// The text with every variable replaced by `${}` (no colon, so ARN
    /// components stay where they are); for format checks.
    pub fn placeholder_text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Escaped(c) => out.push(*c),
                Part::Var { .. } => out.push_str("${}"),
            }
        }
        out
    }

    /// The tokens when the template has no variable (escapes allowed).
    pub fn static_tokens(&self) -> Option<Vec<Tok>> {
        if self.has_variables() {
            return None;
        }
        self.resolve_tokens(&Context::new())
    }
}

/// The value a variable stands for: the key's single value, else the default.
fn lookup<'a>(context: &'a Context, key: &str, default: Option<&'a str>) -> Option<&'a str> {
    match context.get(key) {
        Some([one]) => Some(one.as_str()),
        _ => default,
    }
}

/// Parses what follows `${`; returns the part and the bytes consumed
/// (through the closing `}`).
fn parse_variable(s: &str) -> Result<(Part, usize), String> {
    for (escape, c) in [("*}", '*'), ("?}", '?'), ("$}", '$')] {
        if s.starts_with(escape) {
            return Ok((Part::Escaped(c), 2));
        }
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    // The key runs to `,` or `}`.
    while let Some(&b) = bytes.get(i) {
        if b == b',' || b == b'}' {
            break;
        }
        if b == b'$' || b == b'{' || b == b'\'' {
            return Err(format!(
                "malformed policy variable \"${{{}\"",
                s.get(..=i).unwrap_or(s)
            ));
        }
        i += 1;
    }
    let key = s.get(..i).unwrap_or_default().trim();
    let unterminated = || format!("unterminated policy variable \"${{{s}\"");
    if key.is_empty() || key.contains(char::is_whitespace) {
        if bytes.get(i).is_none() {
            return Err(unterminated());
        }
        return Err(format!(
            "malformed policy variable \"${{{}\": bad key name",
            s.get(..=i).unwrap_or(s)
        ));
    }
    match bytes.get(i) {
        None => Err(unterminated()),
        Some(b'}') => Ok((
            Part::Var {
                key: key.to_string(),
                default: None,
            },
            i + 1,
        )),
        _ => {
            // `, 'default'` then `}`.
            let mut j = i + 1;
            while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
                j += 1;
            }
            if bytes.get(j) != Some(&b'\'') {
                return Err(format!(
                    "malformed policy variable \"${{{}\": the default must be in single quotes",
                    s.get(..j.min(s.len())).unwrap_or(s)
                ));
            }
            j += 1;
            let mut default = Vec::new();
            loop {
                match bytes.get(j) {
                    None => return Err(unterminated()),
                    Some(b'\'') if bytes.get(j + 1) == Some(&b'\'') => {
                        default.push(b'\'');
                        j += 2;
                    }
                    Some(b'\'') => {
                        j += 1;
                        break;
                    }
                    Some(&b) => {
                        default.push(b);
                        j += 1;
                    }
                }
            }
            while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
                j += 1;
            }
            if bytes.get(j) != Some(&b'}') {
                return Err(unterminated());
            }
            let default = String::from_utf8(default).map_err(|_| unterminated())?;
            Ok((
                Part::Var {
                    key: key.to_string(),
                    default: Some(default),
                },
                j + 1,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::policy::matcher::Wildcard;

    fn ctx() -> Context {
        let mut c = Context::new();
        c.insert("aws:username", "alice");
        c.insert("aws:PrincipalTag/team", "blue");
        c.insert("multi", "a");
        c.insert("multi", "b");
        c
    }

    #[test]
    fn substitutes_case_insensitive_keys() {
        let t = Template::parse("home/${AWS:UserName}/x", true).unwrap();
        assert_eq!(t.resolve(&ctx()).unwrap(), "home/alice/x");
        let t = Template::parse("${aws:principaltag/TEAM}", true).unwrap();
        assert_eq!(t.resolve(&ctx()).unwrap(), "blue");
    }

    #[test]
    fn defaults_and_quotes() {
        let t = Template::parse("r-${aws:PrincipalTag/dept, 'shared'}", true).unwrap();
        assert_eq!(t.resolve(&ctx()).unwrap(), "r-shared");
        let t = Template::parse("${ missing ,'it''s'}", true).unwrap();
        assert_eq!(t.resolve(&ctx()).unwrap(), "it's");
        let t = Template::parse("${multi, 'd'}", true).unwrap();
        assert_eq!(t.resolve(&ctx()).unwrap(), "d");
        let t = Template::parse("${missing, '${aws:username}'}", true).unwrap();
        assert_eq!(t.resolve(&ctx()).unwrap(), "${aws:username}");
    }

    #[test]
    fn missing_without_default_is_none() {
        let t = Template::parse("x-${aws:PrincipalTag/dept}", true).unwrap();
        assert_eq!(t.resolve(&ctx()), None);
        let t = Template::parse("${multi}", true).unwrap();
        assert_eq!(t.resolve(&ctx()), None);
    }

    #[test]
    fn escapes_are_literal_in_patterns() {
        let t = Template::parse("a${*}b*", true).unwrap();
        let p = Wildcard::from_tokens(t.resolve_tokens(&ctx()).unwrap(), false);
        assert!(p.matches("a*bzzz"));
        assert!(!p.matches("axbzzz"));
        let t = Template::parse("${$}{x}${?}", true).unwrap();
        assert_eq!(t.resolve(&ctx()).unwrap(), "${x}?");
    }

    #[test]
    fn substituted_values_are_literal() {
        let mut c = Context::new();
        c.insert("aws:username", "a*");
        let t = Template::parse("${aws:username}", true).unwrap();
        let p = Wildcard::from_tokens(t.resolve_tokens(&c).unwrap(), false);
        assert!(p.matches("a*"));
        assert!(!p.matches("abc"));
    }

    #[test]
    fn version_2008_is_literal() {
        let t = Template::parse("${aws:username}", false).unwrap();
        assert!(t.is_plain());
        assert_eq!(t.resolve(&ctx()).unwrap(), "${aws:username}");
    }

    #[test]
    fn malformed() {
        assert!(Template::parse("${aws:username", true).is_err());
        assert!(Template::parse("${}", true).is_err());
        assert!(Template::parse("${a, default}", true).is_err());
        assert!(Template::parse("${a, 'x}", true).is_err());
        assert!(Template::parse("${a b}", true).is_err());
    }
}
