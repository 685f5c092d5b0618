//! Times as text, in the two spellings gitiam writes: AWS's, to the second
//! (`2026-12-03T10:00:00Z`: STS `Expiration`, the AWS CLI's SSO token
//! cache, CodeCommit events, `gitiam iam`'s `created`), and RFC 3339 to the
//! nanosecond (audit lines).

use std::time::SystemTime;

/// `t` in UTC to the second: `2026-12-03T10:00:00Z`.
pub fn utc_seconds(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// `t` in UTC as RFC 3339 with its fraction: `2026-12-03T10:00:00.123456789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn spellings() {
        let t = UNIX_EPOCH + Duration::new(1_764_558_245, 120_000_000);
        assert_eq!(utc_seconds(t), "2025-12-01T03:04:05Z");
        assert_eq!(rfc3339(t), "2025-12-01T03:04:05.12Z");
        // STS's Expiration (was `sts::xml::format_time`).
        let t = UNIX_EPOCH + Duration::from_secs(1_796_094_245);
        assert_eq!(utc_seconds(t), "2026-12-01T03:04:05Z");
    }
}
