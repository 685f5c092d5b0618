//! The `Condition` element: every operator family, `...IfExists`, the
//! `ForAnyValue:` / `ForAllValues:` set qualifiers, and how they combine.
//!
//! Rules (IAM User Guide, "Condition operators" and "Creating a condition
//! with multiple keys or values"):
//! - operators are AND'ed, keys within one operator are AND'ed, the values of
//!   one key are OR'ed (for negated operators: the request value must match
//!   none of them);
//! - a key absent from the request makes the condition false, except that
//!   negated operators are then true, `...IfExists` is then true, and `Null`
//!   tests presence itself;
//! - `ForAllValues` over an absent or empty key is true, `ForAnyValue` false;
//! - a plain operator over a multi-valued key is true when any request value
//!   matches (negated operators: when no request value matches).
//!
//! The files: `operator` (operator names: family, `IfExists`, set
//! qualifier), `value` (policy values compiled for their operator, and the
//! number/date/IP/... readers also used on request values); [`Condition`]
//! and the rules above are here.

mod operator;
mod value;

use std::fmt;

use base64::Engine;

use crate::shared::policy::arn::ArnPattern;
use crate::shared::policy::context::Context;

pub use self::operator::{BaseOperator, Family, Operator, SetQualifier};
pub use self::value::{parse_bool, parse_date, parse_ip, parse_net, parse_number};

use self::value::{Value, compile_value};

/// One `operator: { key: values }` entry: the unit the AND/OR rules apply to.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    operator: Operator,
    key: String,
    values: Vec<Value>,
    written: Vec<String>,
}

impl Condition {
    /// Compiles a condition; `substitute` is true under Version 2012-10-17.
    /// The error names the offending value.
    pub fn new(
        operator: Operator,
        key: &str,
        values: &[String],
        substitute: bool,
    ) -> Result<Self, String> {
        if values.is_empty() {
            return Err(format!("{operator} \"{key}\": no value given"));
        }
        let substitute = substitute && operator.base.takes_variables();
        let compiled = values
            .iter()
            .map(|v| {
                compile_value(operator.base, v, substitute)
                    .map_err(|e| format!("{operator} \"{key}\": {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            operator,
            key: key.to_string(),
            values: compiled,
            written: values.to_vec(),
        })
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The condition key as written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The policy values as written.
    pub fn values(&self) -> &[String] {
        &self.written
    }

    /// Evaluates the condition against `context`. Context values that the
    /// operator cannot read (a non-number for `Numeric*`) match nothing and
    /// are reported in `errors`.
    pub fn evaluate(&self, context: &Context, errors: &mut Vec<String>) -> bool {
        let op = self.operator;
        let present = context.values(&self.key);
        if op.base == BaseOperator::Null {
            let absent = present.is_none();
            return self
                .values
                .iter()
                .any(|v| matches!(v, Value::Null(want_absent) if *want_absent == absent));
        }
        let Some(request_values) = present else {
            return op.if_exists
                || match op.set {
                    SetQualifier::Single => op.base.is_negated(),
                    SetQualifier::ForAnyValue => false,
                    SetQualifier::ForAllValues => true,
                };
        };
        let one = |value: &String| match self.positive_match(value, context) {
            Ok(matched) => matched != op.base.is_negated(),
            Err(e) => {
                errors.push(format!("condition {op} on \"{}\": {e}", self.key));
                false
            }
        };
        match op.set {
            SetQualifier::Single if op.base.is_negated() => request_values.iter().all(one),
            SetQualifier::Single | SetQualifier::ForAnyValue => request_values.iter().any(one),
            SetQualifier::ForAllValues => request_values.iter().all(one),
        }
    }

    /// Does `request` match any policy value under the *positive* form of
    /// the operator? `Err` when the request value is unreadable.
    fn positive_match(&self, request: &str, context: &Context) -> Result<bool, String> {
        use BaseOperator as B;
        let base = self.operator.base;
        let values = self.values.iter();
        Ok(match base.family() {
            Family::String => values.into_iter().any(|v| match v {
                Value::Text(t) => t.resolve(context).is_some_and(|p| match base {
                    B::StringEqualsIgnoreCase | B::StringNotEqualsIgnoreCase => {
                        eq_ignore_case(&p, request)
                    }
                    _ => *p == *request,
                }),
                Value::Like(w) => w.matches(request),
                Value::LikeTemplate(t) => t.matches(context, request),
                _ => false,
            }),
            Family::Numeric => {
                let n = parse_number(request)
                    .ok_or_else(|| format!("request value \"{request}\" is not a number"))?;
                values.into_iter().any(|v| match v {
                    Value::Number(p) => compare(base, n.partial_cmp(p)),
                    _ => false,
                })
            }
            Family::Date => {
                let d = parse_date(request)
                    .ok_or_else(|| format!("request value \"{request}\" is not a date"))?;
                values.into_iter().any(|v| match v {
                    Value::Date(p) => compare(base, Some(d.cmp(p))),
                    _ => false,
                })
            }
            Family::Bool => {
                let b = parse_bool(request)
                    .ok_or_else(|| format!("request value \"{request}\" is not true or false"))?;
                values.into_iter().any(|v| match v {
                    Value::Bool(t) => t.resolve(context).and_then(|p| parse_bool(&p)) == Some(b),
                    _ => false,
                })
            }
            Family::Binary => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(request)
                    .map_err(|_| format!("request value \"{request}\" is not base64"))?;
                values
                    .into_iter()
                    .any(|v| matches!(v, Value::Binary(p) if *p == bytes))
            }
            Family::Ip => {
                let ip = parse_ip(request)
                    .ok_or_else(|| format!("request value \"{request}\" is not an IP address"))?;
                values
                    .into_iter()
                    .any(|v| matches!(v, Value::Net(net) if net.contains(&ip)))
            }
            Family::Arn => values.into_iter().any(|v| match v {
                Value::Arn(p) => p.matches(request),
                Value::ArnTemplate(t) => t
                    .resolve(context)
                    .and_then(|text| ArnPattern::new(&text))
                    .is_some_and(|p| p.matches(request)),
                _ => false,
            }),
            Family::Null => false,
        })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {{\"{}\": ", self.operator, self.key)?;
        match self.written.as_slice() {
            [one] => write!(f, "\"{one}\"")?,
            many => {
                f.write_str("[")?;
                for (i, v) in many.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "\"{v}\"")?;
                }
                f.write_str("]")?;
            }
        }
        f.write_str("}")
    }
}

fn compare(base: BaseOperator, ordering: Option<std::cmp::Ordering>) -> bool {
    use BaseOperator as B;
    use std::cmp::Ordering::{Equal, Greater, Less};
    let Some(o) = ordering else { return false };
    match base {
        B::NumericEquals | B::NumericNotEquals | B::DateEquals | B::DateNotEquals => o == Equal,
        B::NumericLessThan | B::DateLessThan => o == Less,
        B::NumericLessThanEquals | B::DateLessThanEquals => o != Greater,
        B::NumericGreaterThan | B::DateGreaterThan => o == Greater,
        B::NumericGreaterThanEquals | B::DateGreaterThanEquals => o != Less,
        _ => false,
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        Condition::new(Operator::parse(op).unwrap(), key, &values, true).unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        pairs.iter().copied().collect()
    }

    fn eval(c: &Condition, context: &Context) -> bool {
        c.evaluate(context, &mut Vec::new())
    }

    #[test]
    fn negated_and_missing() {
        let c = cond("StringNotEquals", "aws:username", &["bob"]);
        assert!(eval(&c, &ctx(&[])));
        assert!(eval(&c, &ctx(&[("aws:username", "alice")])));
        assert!(!eval(&c, &ctx(&[("aws:username", "bob")])));
        let c = cond("StringEquals", "aws:username", &["bob"]);
        assert!(!eval(&c, &ctx(&[])));
        let c = cond("StringEqualsIfExists", "aws:username", &["bob"]);
        assert!(eval(&c, &ctx(&[])));
        assert!(!eval(&c, &ctx(&[("aws:username", "alice")])));
    }

    #[test]
    fn unreadable_request_value_is_an_error() {
        let c = cond("NumericLessThan", "n", &["10"]);
        let mut errors = Vec::new();
        assert!(!c.evaluate(&ctx(&[("n", "ten")]), &mut errors));
        assert_eq!(errors.len(), 1);
        let c = cond("NumericNotEquals", "n", &["10"]);
        assert!(!c.evaluate(&ctx(&[("n", "ten")]), &mut errors));
    }

    #[test]
    fn bad_policy_values() {
        let op = Operator::parse("NumericEquals").unwrap();
        assert!(Condition::new(op, "k", &["x".into()], true).is_err());
        let op = Operator::parse("IpAddress").unwrap();
        assert!(Condition::new(op, "k", &["10.0.0.0/33".into()], true).is_err());
        let op = Operator::parse("ArnLike").unwrap();
        assert!(Condition::new(op, "k", &["arn:aws:iam".into()], true).is_err());
        let op = Operator::parse("Bool").unwrap();
        assert!(Condition::new(op, "k", &["yes".into()], true).is_err());
        let op = Operator::parse("Null").unwrap();
        assert!(Condition::new(op, "k", &["maybe".into()], true).is_err());
        let op = Operator::parse("BinaryEquals").unwrap();
        assert!(Condition::new(op, "k", &["!!".into()], true).is_err());
        let op = Operator::parse("StringEquals").unwrap();
        assert!(Condition::new(op, "k", &[], true).is_err());
    }
}
