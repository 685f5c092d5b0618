//! Policy values compiled once for their operator, and the readers of
//! numbers, booleans, dates, IP addresses and ranges, which evaluation also
//! applies to request values (so both sides are read the same way).

use std::net::IpAddr;

use base64::Engine;
use ipnet::IpNet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::shared::policy::arn::{ArnPattern, check_policy_arn};
use crate::shared::policy::context::Context;
use crate::shared::policy::matcher::Wildcard;
use crate::shared::policy::variables::Template;

use super::operator::{BaseOperator, Family};

/// One policy value, compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
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

pub(super) fn compile_value(
    base: BaseOperator,
    text: &str,
    substitute: bool,
) -> Result<Value, String> {
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
}
