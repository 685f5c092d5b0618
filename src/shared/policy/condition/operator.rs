//! Condition operator names: the families, the negated forms, `...IfExists`
//! and the `ForAnyValue:` / `ForAllValues:` set qualifiers.

use std::fmt;

use crate::shared::policy::actions;

/// The operator families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `String*`
    String,
    /// `Numeric*`
    Numeric,
    /// `Date*`
    Date,
    /// `Bool`
    Bool,
    /// `BinaryEquals`
    Binary,
    /// `IpAddress`, `NotIpAddress`
    Ip,
    /// `Arn*`
    Arn,
    /// `Null`
    Null,
}

macro_rules! operators {
    ($($name:ident => $family:ident, $negated:expr;)*) => {
        /// A condition operator without its `IfExists` suffix and set qualifier.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum BaseOperator {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $name,
            )*
        }

        impl BaseOperator {
            /// Every operator.
            pub const ALL: &'static [BaseOperator] = &[$(BaseOperator::$name),*];

            /// The operator's name as written in policies.
            pub fn name(self) -> &'static str {
                match self {
                    $(BaseOperator::$name => stringify!($name),)*
                }
            }

            /// The operator's family.
            pub fn family(self) -> Family {
                match self {
                    $(BaseOperator::$name => Family::$family,)*
                }
            }

            /// True for the negated operators (`StringNotEquals`,
            /// `NotIpAddress`, ...).
            pub fn is_negated(self) -> bool {
                match self {
                    $(BaseOperator::$name => $negated,)*
                }
            }
        }
    };
}

operators! {
    StringEquals => String, false;
    StringNotEquals => String, true;
    StringEqualsIgnoreCase => String, false;
    StringNotEqualsIgnoreCase => String, true;
    StringLike => String, false;
    StringNotLike => String, true;
    NumericEquals => Numeric, false;
    NumericNotEquals => Numeric, true;
    NumericLessThan => Numeric, false;
    NumericLessThanEquals => Numeric, false;
    NumericGreaterThan => Numeric, false;
    NumericGreaterThanEquals => Numeric, false;
    DateEquals => Date, false;
    DateNotEquals => Date, true;
    DateLessThan => Date, false;
    DateLessThanEquals => Date, false;
    DateGreaterThan => Date, false;
    DateGreaterThanEquals => Date, false;
    Bool => Bool, false;
    BinaryEquals => Binary, false;
    IpAddress => Ip, false;
    NotIpAddress => Ip, true;
    ArnEquals => Arn, false;
    ArnLike => Arn, false;
    ArnNotEquals => Arn, true;
    ArnNotLike => Arn, true;
    Null => Null, false;
}

impl BaseOperator {
    /// Looks up an operator by its exact name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// True when policy variables are substituted in this operator's values
    /// (string, ARN and Bool operators, per the IAM User Guide).
    pub fn takes_variables(self) -> bool {
        matches!(self.family(), Family::String | Family::Arn | Family::Bool)
    }
}

/// `ForAnyValue:` / `ForAllValues:` or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    /// No qualifier.
    Single,
    /// `ForAnyValue:`: some request value matches.
    ForAnyValue,
    /// `ForAllValues:`: every request value matches.
    ForAllValues,
}

/// A full operator: qualifier, base and `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    /// The comparison.
    pub base: BaseOperator,
    /// `...IfExists`: true when the key is absent.
    pub if_exists: bool,
    /// The set qualifier.
    pub set: SetQualifier,
}

impl Operator {
    /// Parses an operator name such as `ForAnyValue:StringLikeIfExists`.
    pub fn parse(name: &str) -> Result<Self, String> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::Single, name)
        };
        let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let base = BaseOperator::from_name(base_name).ok_or_else(|| unknown_operator(name))?;
        if base == BaseOperator::Null && (if_exists || set != SetQualifier::Single) {
            return Err(format!(
                "condition operator \"{name}\": Null takes no IfExists suffix or set qualifier"
            ));
        }
        Ok(Self {
            base,
            if_exists,
            set,
        })
    }
}

fn unknown_operator(name: &str) -> String {
    let names: Vec<&str> = BaseOperator::ALL.iter().map(|op| op.name()).collect();
    let base = name
        .rsplit_once(':')
        .map_or(name, |(_, b)| b)
        .trim_end_matches("IfExists");
    match actions::closest(base, &names) {
        Some(best) => format!("unknown condition operator \"{name}\" (did you mean \"{best}\"?)"),
        None => format!("unknown condition operator \"{name}\""),
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.set {
            SetQualifier::Single => {}
            SetQualifier::ForAnyValue => f.write_str("ForAnyValue:")?,
            SetQualifier::ForAllValues => f.write_str("ForAllValues:")?,
        }
        f.write_str(self.base.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAllValues:StringLikeIfExists").unwrap();
        assert_eq!(op.base, BaseOperator::StringLike);
        assert!(op.if_exists);
        assert_eq!(op.set, SetQualifier::ForAllValues);
        assert_eq!(op.to_string(), "ForAllValues:StringLikeIfExists");
        assert!(Operator::parse("NullIfExists").is_err());
        let e = Operator::parse("StringEqual").unwrap_err();
        assert!(e.contains("did you mean \"StringEquals\""), "{e}");
    }
}
