//! Amazon Resource Names: `arn:partition:service:region:account:resource`.
//!
//! The resource part is everything after the fifth colon and may itself
//! contain colons and slashes.

use super::matcher::Wildcard;

/// The six components of an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// Always `arn`.
    pub prefix: &'a str,
    /// `aws`, `aws-cn`, ...
    pub partition: &'a str,
    /// `codecommit`, `iam`, `sts`, ...
    pub service: &'a str,
    /// Region, empty for global services.
    pub region: &'a str,
    /// 12-digit account id, empty for some services.
    pub account: &'a str,
    /// The rest (`MyRepo`, `role/deployer`, `assumed-role/r/session`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text` into its six components, or `None` when it has fewer
    /// than six or does not start with `arn:`.
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut it = text.splitn(6, ':');
        let arn = Arn {
            prefix: it.next()?,
            partition: it.next()?,
            service: it.next()?,
            region: it.next()?,
            account: it.next()?,
            resource: it.next()?,
        };
        (arn.prefix == "arn").then_some(arn)
    }

    /// The components in order.
    pub fn components(&self) -> [&'a str; 6] {
        [
            self.prefix,
            self.partition,
            self.service,
            self.region,
            self.account,
            self.resource,
        ]
    }
}

/// Why an ARN written in a policy is malformed, if it is.
pub fn check_policy_arn(text: &str) -> Result<(), String> {
    let Some(arn) = Arn::parse(text) else {
        return Err(format!(
            "\"{text}\" is not an ARN: expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (six colon-separated parts)"
        ));
    };
    if arn.partition.is_empty() {
        return Err(format!(
            "ARN \"{text}\" has an empty partition (expected e.g. \"aws\")"
        ));
    }
    if arn.service.is_empty() {
        return Err(format!("ARN \"{text}\" has an empty service"));
    }
    if arn.resource.is_empty() {
        return Err(format!("ARN \"{text}\" has an empty resource part"));
    }
    let account = arn.account;
    let plain_account = !account.contains(['*', '?', '$']);
    if plain_account
        && !account.is_empty()
        && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "ARN \"{text}\" has account \"{account}\": expected 12 digits"
        ));
    }
    Ok(())
}

/// A compiled ARN pattern for the `Arn*` condition operators: each of the
/// six components is matched separately, so a wildcard never spans a colon
/// between components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnPattern {
    components: [Wildcard; 6],
}

impl ArnPattern {
    /// Compiles `text`, or `None` when it is not six components.
    pub fn new(text: &str) -> Option<Self> {
        let arn = Arn::parse(text)?;
        Some(Self {
            components: arn.components().map(Wildcard::new),
        })
    }

    /// True when `value` is an ARN whose every component matches.
    pub fn matches(&self, value: &str) -> bool {
        Arn::parse(value).is_some_and(|arn| {
            self.components
                .iter()
                .zip(arn.components())
                .all(|(pattern, component)| pattern.matches(component))
        })
    }
}

/// A 12-digit AWS account id, which `Principal` entries may name instead of
/// an ARN (checked by the builder, matched by evaluation).
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_six_components() {
        let a = Arn::parse("arn:aws:codecommit:us-east-1:111122223333:repo:with:colons").unwrap();
        assert_eq!(a.service, "codecommit");
        assert_eq!(a.resource, "repo:with:colons");
        assert!(Arn::parse("arn:aws:codecommit:us-east-1").is_none());
        assert!(Arn::parse("urn:aws:codecommit:r:1:x").is_none());
    }

    #[test]
    fn per_component_matching() {
        let p = ArnPattern::new("arn:aws:someservice:*:111122223333:finance/*").unwrap();
        assert!(p.matches("arn:aws:someservice:us-east-2:111122223333:finance/doc.txt"));
        // The AWS documentation's example: a string match would succeed, an
        // ARN match does not, because `*` may not swallow the colons.
        assert!(!p.matches(
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
        ));
        assert!(!p.matches("not-an-arn"));
    }

    #[test]
    fn policy_arn_checks() {
        assert!(check_policy_arn("arn:aws:codecommit:us-east-1:111122223333:repo").is_ok());
        assert!(check_policy_arn("arn:aws:codecommit:*:*:repo*").is_ok());
        assert!(check_policy_arn("arn:aws:iam::${aws:PrincipalAccount}:role/x").is_ok());
        assert!(check_policy_arn("arn:aws:s3:::bucket").is_ok());
        assert!(check_policy_arn("arn:aws:codecommit:us-east-1:repo").is_err());
        assert!(check_policy_arn("arn:aws:codecommit:us-east-1:1234:repo").is_err());
        assert!(check_policy_arn("arn::codecommit:us-east-1:111122223333:repo").is_err());
    }
}
