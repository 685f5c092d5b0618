//! The request context: condition keys and their values.
//!
//! IAM condition key *names* are case-insensitive (`aws:SourceIp` and
//! `AWS:sourceip` are the same key); their *values* are case-sensitive
//! (tag values, user names). A key may hold several values
//! (`codecommit:References` for a push that updates two branches).

/// Condition keys of one request, each with one or more values.
///
/// Keys compare case-insensitively (ASCII case folding). A context holds a few
/// dozen keys at most, so a vector searched linearly beats hashing (which
/// would need a lower-cased copy of every looked-up key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, Vec<String>)>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `value` to `key`: inserting the same key twice makes it
    /// multi-valued.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.position(&key) {
            Some(i) => {
                if let Some((_, values)) = self.entries.get_mut(i) {
                    values.push(value);
                }
            }
            None => self.entries.push((key, vec![value])),
        }
    }

    /// Replaces every value of `key` with `values` (an empty vector keeps the
    /// key present but empty, which conditions treat like an absent key).
    pub fn set(&mut self, key: impl Into<String>, values: Vec<String>) {
        let key = key.into();
        match self.position(&key) {
            Some(i) => {
                if let Some((_, slot)) = self.entries.get_mut(i) {
                    *slot = values;
                }
            }
            None => self.entries.push((key, values)),
        }
    }

    /// Removes `key`; returns its values if it was present.
    pub fn remove(&mut self, key: &str) -> Option<Vec<String>> {
        let i = self.position(key)?;
        Some(self.entries.remove(i).1)
    }

    /// The values of `key` (case-insensitive), if the key is present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_slice())
    }

    /// The values of `key`, treating a present-but-empty key as absent.
    pub(crate) fn values(&self, key: &str) -> Option<&[String]> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// True when `key` is present (even with no value).
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Every key with its values, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is present.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Context {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut context = Context::new();
        for (k, v) in iter {
            context.insert(k, v);
        }
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_values_are_not() {
        let mut c = Context::new();
        c.insert("aws:PrincipalTag/Team", "Blue");
        assert_eq!(
            c.get("AWS:principaltag/team"),
            Some(&["Blue".to_string()][..])
        );
        assert_ne!(
            c.get("aws:principaltag/team"),
            Some(&["blue".to_string()][..])
        );
    }

    #[test]
    fn insert_appends_set_replaces() {
        let mut c = Context::new();
        c.insert("codecommit:References", "refs/heads/main");
        c.insert("CODECOMMIT:references", "refs/heads/dev");
        assert_eq!(c.get("codecommit:References").map(<[String]>::len), Some(2));
        c.set("codecommit:references", vec!["x".into()]);
        assert_eq!(c.get("codecommit:References"), Some(&["x".to_string()][..]));
        assert_eq!(c.len(), 1);
        c.set("codecommit:references", vec![]);
        assert!(c.contains("codecommit:References"));
        assert_eq!(c.values("codecommit:References"), None);
        assert_eq!(c.remove("codecommit:REFERENCES"), Some(vec![]));
        assert!(c.is_empty());
    }
}
