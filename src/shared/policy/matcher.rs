//! The IAM wildcard matcher: `*` matches any run of characters (including
//! none), `?` matches exactly one character, everything else matches itself.
//!
//! The algorithm is the greedy one with a single backtrack point: when a
//! literal fails, only the most recent `*` is retried one character further.
//! Earlier stars never need revisiting (any match they could enable, the later
//! star can absorb), so the worst case is `O(pattern × text)` and patterns
//! such as `*a*a*a*a*b` cannot trigger exponential backtracking.
//!
//! Matching works on UTF-8 bytes; `?` and the star's advance step over whole
//! characters, so `?` matches one character, not one byte. Case-insensitive
//! matching (used for actions) folds ASCII letters only, which is what IAM
//! action names contain.

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tok {
    /// A byte that must match itself (lower-cased when the pattern ignores
    /// case).
    Byte(u8),
    /// `?`: exactly one character.
    Any,
    /// `*`: any run of characters.
    Star,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Shape {
    /// No wildcard: compare the whole text.
    Exact(String),
    /// `literal*`: a prefix test.
    Prefix(String),
    /// `*` alone.
    All,
    /// Anything else: run the general algorithm, after a quick rejection
    /// by the literal bytes the text must end with (after the last `*`).
    General { suffix: Vec<u8> },
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wildcard {
    toks: Vec<Tok>,
    shape: Shape,
    ignore_case: bool,
}

impl Wildcard {
    /// Compiles `pattern`, where `*` and `?` are wildcards; case-sensitive.
    pub fn new(pattern: &str) -> Self {
        Self::from_tokens(tokenize(pattern), false)
    }

    /// Compiles `pattern` for case-insensitive (ASCII) matching.
    pub fn new_ignore_case(pattern: &str) -> Self {
        Self::from_tokens(tokenize(pattern), true)
    }

    /// Builds a pattern from tokens (used when policy variables or escapes
    /// produced literal `*` or `?` bytes).
    pub fn from_tokens(mut toks: Vec<Tok>, ignore_case: bool) -> Self {
        if ignore_case {
            for t in &mut toks {
                if let Tok::Byte(b) = t {
                    *b = b.to_ascii_lowercase();
                }
            }
        }
        // Consecutive stars are one star.
        toks.dedup_by(|a, b| *a == Tok::Star && *b == Tok::Star);
        let shape = shape_of(&toks);
        Self {
            toks,
            shape,
            ignore_case,
        }
    }

    /// True when `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        self.match_with(text, self.ignore_case)
    }

    /// Like [`Wildcard::matches`] for a `text` the caller has already
    /// lower-cased (ASCII): a case-insensitive pattern then compares bytes
    /// directly. Used for the request's action, lower-cased once per
    /// decision rather than folded again for every pattern.
    pub fn matches_lowercase(&self, text: &str) -> bool {
        self.match_with(text, false)
    }

    fn match_with(&self, text: &str, fold: bool) -> bool {
        match &self.shape {
            Shape::All => true,
            // Resources of one account share a long prefix and differ at
            // the end: test the literal's last byte before comparing all.
            Shape::Exact(lit) => {
                lit.len() == text.len()
                    && last_eq(lit.as_bytes(), text.as_bytes(), fold)
                    && if fold {
                        lit.eq_ignore_ascii_case(text)
                    } else {
                        lit == text
                    }
            }
            Shape::Prefix(lit) => match text.as_bytes().get(..lit.len()) {
                Some(head) if !last_eq(lit.as_bytes(), head, fold) => false,
                Some(head) if fold => head.eq_ignore_ascii_case(lit.as_bytes()),
                Some(head) => head == lit.as_bytes(),
                None => false,
            },
            Shape::General { suffix } => {
                let bytes = text.as_bytes();
                let tail = bytes
                    .len()
                    .checked_sub(suffix.len())
                    .and_then(|start| bytes.get(start..));
                let tail_ok = match tail {
                    Some(tail) if fold => tail.eq_ignore_ascii_case(suffix),
                    Some(tail) => tail == suffix.as_slice(),
                    None => false,
                };
                tail_ok && general_match(&self.toks, bytes, fold)
            }
        }
    }

    /// The literal text before the first wildcard (lower-cased when the
    /// pattern ignores case).
    pub fn literal_prefix(&self) -> Vec<u8> {
        self.toks
            .iter()
            .map_while(|t| match t {
                Tok::Byte(b) => Some(*b),
                _ => None,
            })
            .collect()
    }

    /// True when the pattern has no wildcard at all.
    pub fn is_exact(&self) -> bool {
        matches!(self.shape, Shape::Exact(_))
    }

    /// True for the pattern `*`.
    pub fn is_match_all(&self) -> bool {
        self.shape == Shape::All
    }

    /// True when the pattern ignores ASCII case.
    pub fn ignores_case(&self) -> bool {
        self.ignore_case
    }

    /// The compiled tokens.
    pub fn tokens(&self) -> &[Tok] {
        &self.toks
    }
}

/// `*` and `?` as wildcards, every other byte literal.
pub fn tokenize(pattern: &str) -> Vec<Tok> {
    let mut toks = Vec::with_capacity(pattern.len());
    push_pattern(&mut toks, pattern);
    toks
}

/// Appends `pattern` with `*` and `?` as wildcards.
pub fn push_pattern(toks: &mut Vec<Tok>, pattern: &str) {
    toks.extend(pattern.bytes().map(|b| match b {
        b'*' => Tok::Star,
        b'?' => Tok::Any,
        other => Tok::Byte(other),
    }));
}

/// Appends `text` as literal bytes (wildcard characters match themselves).
pub fn push_literal(toks: &mut Vec<Tok>, text: &str) {
    toks.extend(text.bytes().map(Tok::Byte));
}

/// Case-sensitive match of `text` against tokens that are used once (a
/// pattern with policy variables substituted): no compilation step.
pub fn match_tokens(toks: &[Tok], text: &str) -> bool {
    general_match(toks, text.as_bytes(), false)
}

/// One-shot case-sensitive match of `text` against `pattern`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    Wildcard::new(pattern).matches(text)
}

fn shape_of(toks: &[Tok]) -> Shape {
    let literal = |ts: &[Tok]| -> Option<String> {
        let bytes: Option<Vec<u8>> = ts
            .iter()
            .map(|t| match t {
                Tok::Byte(b) => Some(*b),
                _ => None,
            })
            .collect();
        bytes.and_then(|b| String::from_utf8(b).ok())
    };
    match toks {
        [Tok::Star] => Shape::All,
        [head @ .., Tok::Star] => literal(head).map_or_else(|| general(toks), Shape::Prefix),
        all => literal(all).map_or_else(|| general(toks), Shape::Exact),
    }
}

/// The general shape, with the literal bytes after the last `*` when no `?`
/// follows it (a `?` makes the tail's byte length unknown).
fn general(toks: &[Tok]) -> Shape {
    let after_star = toks
        .iter()
        .rposition(|t| *t == Tok::Star)
        .and_then(|i| toks.get(i + 1..))
        .unwrap_or_default();
    let suffix: Option<Vec<u8>> = after_star
        .iter()
        .map(|t| match t {
            Tok::Byte(b) => Some(*b),
            _ => None,
        })
        .collect();
    Shape::General {
        suffix: suffix.unwrap_or_default(),
    }
}

/// Do two equally long byte strings end with the same byte?
fn last_eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    match (a.last(), b.last()) {
        (Some(x), Some(y)) => x == y || (fold && x.eq_ignore_ascii_case(y)),
        _ => true,
    }
}

/// Length in bytes of the UTF-8 character starting with `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xff => 4,
        // A continuation byte never starts a character of valid UTF-8; step
        // one byte so the loop still makes progress.
        _ => 1,
    }
}

fn general_match(pat: &[Tok], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // (pattern index just after the last star, text index it resumes from)
    let mut resume: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pat.get(p) {
            Some(Tok::Star) => {
                p += 1;
                resume = Some((p, t));
                continue;
            }
            Some(Tok::Any) => {
                p += 1;
                t += char_len(c);
                continue;
            }
            Some(Tok::Byte(b)) if *b == c || (fold && *b == c.to_ascii_lowercase()) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last star absorb one more character.
        match resume {
            Some((sp, st)) => {
                let next = st + text.get(st).map_or(1, |&lead| char_len(lead));
                resume = Some((sp, next));
                p = sp;
                t = next;
            }
            None => return false,
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|t| *t == Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("a*c", "ac"));
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(!wildcard_match("a*c", "abbbd"));
        assert!(wildcard_match(
            "arn:aws:codecommit:*:111122223333:repo-?",
            "arn:aws:codecommit:us-east-1:111122223333:repo-1"
        ));
        assert!(!wildcard_match("Repo", "repo"));
        assert!(wildcard_match("é?", "éü"));
        assert!(wildcard_match("?", "ü"));
        assert!(!wildcard_match("??", "ü"));
    }

    #[test]
    fn ignore_case() {
        let p = Wildcard::new_ignore_case("CodeCommit:Git*");
        assert!(p.matches("codecommit:GITPUSH"));
        assert!(Wildcard::new_ignore_case("codecommit:gitpu?l").matches("CodeCommit:GitPull"));
        assert!(Wildcard::new_ignore_case("*:git*").matches("CodeCommit:GitPull"));
    }

    #[test]
    fn literal_star_from_tokens() {
        let mut toks = Vec::new();
        push_literal(&mut toks, "a*");
        let p = Wildcard::from_tokens(toks, false);
        assert!(p.matches("a*"));
        assert!(!p.matches("ab"));
    }

    #[test]
    fn pathological_pattern_is_fast_enough_to_finish() {
        let text = "a".repeat(20_000);
        assert!(!wildcard_match("*a*a*a*a*b", &text));
        assert!(wildcard_match("*a*a*a*a*", &text));
    }
}
