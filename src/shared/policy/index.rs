//! [`PolicyIndex`]: a policy store that finds the statements that could
//! apply to a request without looking at the others.
//!
//! Each statement is filed once, under its most selective element:
//! - by **resource**, when every `Resource` entry is exact or has a literal
//!   prefix reaching into the resource part of the ARN (a byte trie walked
//!   along the request's resource; exact entries count only at its end);
//! - else by **action**, when every `Action` entry has a literal prefix
//!   reaching past `service:` (a case-folded trie walked along the action);
//! - else in a short list checked for every request (`NotAction`,
//!   `NotResource`, `Action: "*"` with `Resource: "*"`, ...).
//!
//! The cost of a lookup is the length of the action and resource plus the
//! number of candidates, not the number of policies in the store. Candidates
//! are then evaluated exactly as without the index, so the index never
//! changes a decision (a property the tests check).

use std::sync::Arc;

use super::ast::{Policy, Statement};

/// A byte trie mapping literal prefixes to statement ids.
#[derive(Debug, Default, Clone)]
struct Trie {
    nodes: Vec<Node>,
}

#[derive(Debug, Default, Clone)]
struct Node {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    /// Statements whose key is a prefix of what they match.
    prefix_ids: Vec<u32>,
    /// Statements that match exactly the key (no wildcard).
    exact_ids: Vec<u32>,
}

impl Trie {
    fn insert(&mut self, key: &[u8], id: u32, exact: bool) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0usize;
        for &b in key {
            let Some(node) = self.nodes.get(at) else {
                return;
            };
            at = match node.children.binary_search_by_key(&b, |(c, _)| *c) {
                Ok(i) => node.children.get(i).map_or(0, |(_, n)| *n as usize),
                Err(i) => {
                    let new = self.nodes.len();
                    self.nodes.push(Node::default());
                    if let Some(node) = self.nodes.get_mut(at) {
                        node.children.insert(i, (b, new as u32));
                    }
                    new
                }
            };
        }
        if let Some(node) = self.nodes.get_mut(at) {
            if exact {
                node.exact_ids.push(id);
            } else {
                node.prefix_ids.push(id);
            }
        }
    }

    /// Appends the prefix ids stored at every prefix of `text`, and the
    /// exact ids stored at `text` itself (`fold`: compare ASCII
    /// case-insensitively; keys were inserted lower-cased).
    fn collect(&self, text: &[u8], fold: bool, out: &mut Vec<u32>) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        out.extend_from_slice(&node.prefix_ids);
        for &b in text {
            let b = if fold { b.to_ascii_lowercase() } else { b };
            let Ok(i) = node.children.binary_search_by_key(&b, |(c, _)| *c) else {
                return;
            };
            let Some(next) = node
                .children
                .get(i)
                .and_then(|(_, n)| self.nodes.get(*n as usize))
            else {
                return;
            };
            node = next;
            out.extend_from_slice(&node.prefix_ids);
        }
        out.extend_from_slice(&node.exact_ids);
    }
}

/// A store of many policies, evaluated as one layer (see the module
/// documentation). Build it once (at configuration load) and share it.
#[derive(Debug, Clone, Default)]
pub struct PolicyIndex {
    policies: Vec<Arc<Policy>>,
    /// Statement id -> (policy, statement) positions.
    refs: Vec<(u32, u32)>,
    always: Vec<u32>,
    resources: Trie,
    actions: Trie,
}

/// True when `prefix` reaches past the fifth colon of an ARN (into the
/// resource part), so that it separates resources of one account.
fn selective_resource(prefix: &[u8]) -> bool {
    let mut colons = 0;
    for (i, &b) in prefix.iter().enumerate() {
        if b == b':' {
            colons += 1;
            if colons == 5 {
                return i + 1 < prefix.len();
            }
        }
    }
    false
}

/// True when `prefix` reaches past `service:`.
fn selective_action(prefix: &[u8]) -> bool {
    prefix
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|i| i + 1 < prefix.len())
}

impl PolicyIndex {
    /// Indexes `policies`.
    pub fn new(policies: Vec<Arc<Policy>>) -> Self {
        let mut index = PolicyIndex {
            policies,
            ..Self::default()
        };
        let mut refs = Vec::new();
        for (p, policy) in index.policies.iter().enumerate() {
            for (s, _) in policy.statements().iter().enumerate() {
                refs.push((p as u32, s as u32));
            }
        }
        let policies = std::mem::take(&mut index.policies);
        for (id, &(p, s)) in refs.iter().enumerate() {
            let statement = policies
                .get(p as usize)
                .and_then(|policy| policy.statements().get(s as usize));
            if let Some(statement) = statement {
                file(&mut index, statement, id as u32);
            }
        }
        index.policies = policies;
        index.refs = refs;
        index
    }

    /// The indexed policies, in the order given.
    pub fn policies(&self) -> &[Arc<Policy>] {
        &self.policies
    }

    /// Number of statements in the store.
    pub fn statement_count(&self) -> usize {
        self.refs.len()
    }

    /// Number of statements a request for `action` on `resource` has to
    /// look at.
    pub fn candidate_count(&self, action: &str, resource: &str) -> usize {
        self.candidates(action, resource).len()
    }

    fn candidates(&self, action: &str, resource: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(self.always.len() + 8);
        ids.extend_from_slice(&self.always);
        self.resources.collect(resource.as_bytes(), false, &mut ids);
        self.actions.collect(action.as_bytes(), true, &mut ids);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Calls `f` with every statement that could apply, in (policy,
    /// statement) order.
    pub(crate) fn for_each_candidate(
        &self,
        action: &str,
        resource: &str,
        mut f: impl FnMut(&Policy, &Statement),
    ) {
        for id in self.candidates(action, resource) {
            let Some(&(p, s)) = self.refs.get(id as usize) else {
                continue;
            };
            if let Some(policy) = self.policies.get(p as usize)
                && let Some(statement) = policy.statements().get(s as usize)
            {
                f(policy, statement);
            }
        }
    }
}

fn file(index: &mut PolicyIndex, statement: &Statement, id: u32) {
    if let Some(resources) = &statement.resources
        && !resources.negated
    {
        let keys: Vec<(Option<String>, Vec<u8>)> = resources
            .patterns
            .iter()
            .map(|p| (p.exact(), p.literal_prefix()))
            .collect();
        if keys
            .iter()
            .all(|(exact, prefix)| exact.is_some() || selective_resource(prefix))
        {
            for (exact, prefix) in keys {
                match exact {
                    Some(exact) => index.resources.insert(exact.as_bytes(), id, true),
                    None => index.resources.insert(&prefix, id, false),
                }
            }
            return;
        }
    }
    if !statement.actions.negated {
        let prefixes: Vec<Vec<u8>> = statement
            .actions
            .patterns
            .iter()
            .map(|p| p.literal_prefix())
            .collect();
        if prefixes.iter().all(|p| selective_action(p)) {
            for (pattern, prefix) in statement.actions.patterns.iter().zip(prefixes) {
                index.actions.insert(&prefix, id, pattern.is_exact());
            }
            return;
        }
    }
    index.always.push(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, statement: &str) -> Arc<Policy> {
        let text = format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#);
        Arc::new(Policy::parse(name, &text).unwrap())
    }

    #[test]
    fn files_by_most_selective_element() {
        let index = PolicyIndex::new(vec![
            policy(
                "exact",
                r#"{"Effect":"Allow","Action":"codecommit:GitPull","Resource":"arn:aws:codecommit:us-east-1:111122223333:repo-1"}"#,
            ),
            policy(
                "prefix",
                r#"{"Effect":"Allow","Action":"codecommit:*","Resource":"arn:aws:codecommit:us-east-1:111122223333:team-*"}"#,
            ),
            policy(
                "action",
                r#"{"Effect":"Allow","Action":"codecommit:GitPush","Resource":"*"}"#,
            ),
            policy(
                "always",
                r#"{"Effect":"Deny","NotAction":"codecommit:GitPull","Resource":"*"}"#,
            ),
        ]);
        let r = "arn:aws:codecommit:us-east-1:111122223333:repo-1";
        assert_eq!(index.candidate_count("codecommit:GitPull", r), 2); // exact + always
        assert_eq!(index.candidate_count("CODECOMMIT:gitpush", r), 3); // + action
        let t = "arn:aws:codecommit:us-east-1:111122223333:team-a";
        assert_eq!(index.candidate_count("codecommit:GitPull", t), 2); // prefix + always
        assert_eq!(index.statement_count(), 4);
    }

    #[test]
    fn selectivity() {
        assert!(selective_resource(b"arn:aws:codecommit:r:1:x"));
        assert!(!selective_resource(b"arn:aws:codecommit:r:1:"));
        assert!(!selective_resource(b"arn:aws:codecommit:"));
        assert!(selective_action(b"codecommit:g"));
        assert!(!selective_action(b"codecommit:"));
        assert!(!selective_action(b""));
    }
}
