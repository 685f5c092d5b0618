//! Access-Analyzer-style validation: every problem of a document, each with
//! its statement and field, as errors (the document is unusable) or warnings
//! (it works, but probably not as meant).

use super::parser;

// The findings types live in `finding` (the builder needs them too); they
// are re-exported here, where they have always been named.
pub use super::finding::{Finding, PolicyKind, Severity};

/// Every finding for `policy_text` used as `kind`; `source` names the
/// document. An empty result, or only warnings, means the document is valid.
pub fn validate(policy_text: &str, source: &str, kind: PolicyKind) -> Vec<Finding> {
    parser::build(source, policy_text, Some(kind)).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str, kind: PolicyKind) -> Vec<String> {
        validate(text, "t.json", kind)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn kind_rules() {
        let trust_with_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Resource":"*"}}"#;
        let e = errors(trust_with_resource, PolicyKind::Trust);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("Resource is not allowed in a role trust policy"));
        let e = errors(trust_with_resource, PolicyKind::Identity);
        assert!(
            e[0].contains("Principal is not allowed in an identity policy"),
            "{e:?}"
        );
        let no_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"codecommit:GitPull"}}"#;
        assert!(errors(no_resource, PolicyKind::Session)[0].contains("missing Resource"));
        assert!(errors(no_resource, PolicyKind::Trust)[0].contains("missing Principal"));
    }
}
