//! The `YYYYMMDDTHHMMSSZ` timestamps SigV4 uses, to and from `SystemTime`.

use std::time::SystemTime;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// Formats `t` (UTC) as `YYYYMMDDTHHMMSSZ`. Sub-second precision is dropped.
pub fn format_amz_date(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses exactly `YYYYMMDDTHHMMSSZ` (UTC). Anything else is `None`.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || !s.is_ascii() {
        return None;
    }
    let t = time::PrimitiveDateTime::parse(s, AMZ_DATE).ok()?;
    Some(t.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(t));
    }

    #[test]
    fn rejects_other_shapes() {
        for s in [
            "20150830T123600",
            "20150830T123600Z ",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "",
        ] {
            assert_eq!(parse_amz_date(s), None, "{s:?}");
        }
    }
}
