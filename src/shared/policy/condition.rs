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

use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use ipnet::IpNet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::arn::{ArnPattern, check_policy_arn};
use super::context::Context;
use super::matcher::Wildcard;
use super::variables::Template;

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
    match super::actions::closest(base, &names) {
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

/// One policy value, compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// Exact / case-insensitive string, maybe with variables.
    Text(Template),
    /// `StringLike` pattern without variables.
    Like(Wildcard),
    /// `StringLike` pattern with variables.
    LikeTemplate(Template),
    Number(f64),
    /// Nanoseconds since the Unix epoch.
    Date(i128),
    /// `Bool`: "true"/"false", maybe a variable.
    Bool(Template),
    Binary(Vec<u8>),
    Net(IpNet),
    /// ARN pattern without variables.
    Arn(Box<ArnPattern>),
    /// ARN pattern with variables.
    ArnTemplate(Template),
    /// `Null`: true means "the key must be absent".
    Null(bool),
}

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

fn compile_value(base: BaseOperator, text: &str, substitute: bool) -> Result<Value, String> {
    let template = || Template::parse(text, substitute);
    Ok(match base.family() {
        Family::String => match base {
            BaseOperator::StringLike | BaseOperator::StringNotLike => {
                let t = template()?;
                match t.static_tokens() {
                    Some(toks) => Value::Like(Wildcard::from_tokens(toks, false)),
                    None => Value::LikeTemplate(t),
                }
            }
            _ => Value::Text(template()?),
        },
        Family::Numeric => {
            Value::Number(parse_number(text).ok_or_else(|| format!("\"{text}\" is not a number"))?)
        }
        Family::Date => Value::Date(parse_date(text).ok_or_else(|| {
            format!(
                "\"{text}\" is not a date (ISO 8601 such as 2024-01-31T12:00:00Z, or epoch seconds)"
            )
        })?),
        Family::Bool => {
            let t = template()?;
            if !t.has_variables()
                && t.resolve(&Context::new())
                    .and_then(|v| parse_bool(&v))
                    .is_none()
            {
                return Err(format!("\"{text}\" is not true or false"));
            }
            Value::Bool(t)
        }
        Family::Binary => Value::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| format!("\"{text}\" is not base64"))?,
        ),
        Family::Ip => Value::Net(
            parse_net(text)
                .ok_or_else(|| format!("\"{text}\" is not an IP address or CIDR range"))?,
        ),
        Family::Arn => {
            let t = template()?;
            if t.has_variables() {
                Value::ArnTemplate(t)
            } else {
                let resolved = t.resolve(&Context::new()).unwrap_or_default();
                check_policy_arn(&resolved)?;
                Value::Arn(Box::new(
                    ArnPattern::new(&resolved)
                        .ok_or_else(|| format!("\"{text}\" is not an ARN"))?,
                ))
            }
        }
        Family::Null => Value::Null(
            parse_bool(text).ok_or_else(|| format!("\"{text}\" must be true or false"))?,
        ),
    })
}

/// An integer or decimal number.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `true` / `false`, case-insensitive.
pub fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A date as nanoseconds since the Unix epoch: ISO 8601 (`2024-01-31`,
/// `2024-01-31T12:00:00Z`, with fractions or an offset, or without a zone,
/// meaning UTC, or the basic form `20240131T120000Z`) or epoch seconds.
pub fn parse_date(text: &str) -> Option<i128> {
    let t = text.trim();
    if is_epoch(t) {
        let secs: i128 = t.parse().ok()?;
        return Some(secs * 1_000_000_000);
    }
    if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(dt.unix_timestamp_nanos());
    }
    let utc = |pdt: time::PrimitiveDateTime| pdt.assume_utc().unix_timestamp_nanos();
    let formats: [&[time::format_description::BorrowedFormatItem<'_>]; 5] = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]Z"),
        format_description!("[year][month][day]T[hour][minute][second]Z"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
    ];
    for format in formats {
        if let Ok(pdt) = time::PrimitiveDateTime::parse(t, format) {
            return Some(utc(pdt));
        }
    }
    if let Ok(date) = time::Date::parse(t, format_description!("[year]-[month]-[day]")) {
        return Some(utc(date.midnight()));
    }
    None
}

fn is_epoch(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An IP address; IPv4-mapped IPv6 addresses count as IPv4.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let ip: IpAddr = text.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// A CIDR range, or a single address as a /32 or /128 range.
pub fn parse_net(text: &str) -> Option<IpNet> {
    let t = text.trim();
    t.parse::<IpNet>()
        .ok()
        .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
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

    #[test]
    fn dates() {
        let a = parse_date("2024-01-31T12:00:00Z").unwrap();
        assert_eq!(parse_date("1706702400"), Some(a));
        assert_eq!(parse_date("2024-01-31T13:00:00+01:00"), Some(a));
        assert_eq!(parse_date("20240131T120000Z"), Some(a));
        assert_eq!(parse_date("2024-01-31T12:00:00"), Some(a));
        assert_eq!(parse_date("2024-01-31T12:00:00.000Z"), Some(a));
        assert!(parse_date("2024-01-31").unwrap() < a);
        assert_eq!(parse_date("yesterday"), None);
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
