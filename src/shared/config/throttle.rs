//! The `auth_*` keys of `[server]`: how failed authentications are counted
//! per source address and when a source is refused for a while
//! (`server::throttle` does the counting).

use std::time::Duration;

use toml::Spanned;

use super::{ConfigError, Loader, raw::RawServer};

/// Default sustained rate of failed authentications a source may make.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 20;
/// Default number of failures a source may make in a row.
pub const DEFAULT_AUTH_FAILURE_BURST: u32 = 20;
/// Default time a source that went over the rate is refused.
pub const DEFAULT_AUTH_BLOCK_SECS: u64 = 300;
/// Default prefix length grouping IPv6 sources (one customer site).
pub const DEFAULT_AUTH_IPV6_PREFIX_LEN: u8 = 64;
/// Default most sources remembered at once.
pub const DEFAULT_AUTH_MAX_SOURCES: usize = 100_000;

/// How failed authentications are throttled, per source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthThrottle {
    /// Failures per minute a source may make in the long run; 0 turns
    /// throttling off.
    pub failures_per_minute: u32,
    /// Failures a source may make in a row before the rate applies.
    pub burst: u32,
    /// How long a source that goes over the rate is refused.
    pub block: Duration,
    /// IPv6 sources sharing this many leading bits share one budget (IPv4
    /// sources are counted per address).
    pub ipv6_prefix_len: u8,
    /// Most sources remembered at once (the table evicts beyond this).
    pub max_sources: usize,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        Self {
            failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            burst: DEFAULT_AUTH_FAILURE_BURST,
            block: Duration::from_secs(DEFAULT_AUTH_BLOCK_SECS),
            ipv6_prefix_len: DEFAULT_AUTH_IPV6_PREFIX_LEN,
            max_sources: DEFAULT_AUTH_MAX_SOURCES,
        }
    }
}

impl AuthThrottle {
    /// Whether failures are throttled at all.
    pub fn enabled(&self) -> bool {
        self.failures_per_minute > 0
    }
}

impl Loader<'_> {
    /// Validates the `auth_*` keys of `[server]`.
    pub(super) fn auth_throttle(&self, raw: &RawServer) -> Result<AuthThrottle, ConfigError> {
        let per_minute = self.in_range(
            raw.auth_failures_per_minute.as_ref(),
            "auth_failures_per_minute",
            u64::from(DEFAULT_AUTH_FAILURES_PER_MINUTE),
            (0, 1_000_000),
        )?;
        let burst = self.in_range(
            raw.auth_failure_burst.as_ref(),
            "auth_failure_burst",
            u64::from(DEFAULT_AUTH_FAILURE_BURST),
            (1, 1_000_000),
        )?;
        let block = self.in_range(
            raw.auth_block_secs.as_ref(),
            "auth_block_secs",
            DEFAULT_AUTH_BLOCK_SECS,
            (1, 86_400),
        )?;
        let prefix = self.in_range(
            raw.auth_ipv6_prefix_len.as_ref(),
            "auth_ipv6_prefix_len",
            u64::from(DEFAULT_AUTH_IPV6_PREFIX_LEN),
            (32, 128),
        )?;
        let max_sources = self.in_range(
            raw.auth_max_sources.as_ref(),
            "auth_max_sources",
            DEFAULT_AUTH_MAX_SOURCES as u64,
            (1, 10_000_000),
        )?;
        // The ranges above fit every target type.
        Ok(AuthThrottle {
            failures_per_minute: u32::try_from(per_minute).unwrap_or(u32::MAX),
            burst: u32::try_from(burst).unwrap_or(u32::MAX),
            block: Duration::from_secs(block),
            ipv6_prefix_len: u8::try_from(prefix).unwrap_or(128),
            max_sources: usize::try_from(max_sources).unwrap_or(usize::MAX),
        })
    }

    /// `value` (or `default`) if it lies in `min..=max`; an error at its
    /// place otherwise.
    fn in_range(
        &self,
        value: Option<&Spanned<u64>>,
        key: &str,
        default: u64,
        (min, max): (u64, u64),
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if (min..=max).contains(v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => Err(self.err(v, format!("{key} must be between {min} and {max}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::shared::config::load_str;

    fn load(server: &str) -> Result<AuthThrottle, String> {
        let text = format!("[server]\n{server}");
        load_str(Path::new("gitiam.toml"), Path::new("/tmp"), &text)
            .map(|c| c.server.auth_throttle)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_values() {
        let d = load("").unwrap();
        assert_eq!(d, AuthThrottle::default());
        assert_eq!(
            (d.failures_per_minute, d.burst, d.block.as_secs()),
            (20, 20, 300)
        );
        assert_eq!((d.ipv6_prefix_len, d.max_sources), (64, 100_000));
        assert!(d.enabled());
        let c = load(
            "auth_failures_per_minute = 5\nauth_failure_burst = 3\nauth_block_secs = 2\n\
             auth_ipv6_prefix_len = 56\nauth_max_sources = 1000\n",
        )
        .unwrap();
        assert_eq!(
            c,
            AuthThrottle {
                failures_per_minute: 5,
                burst: 3,
                block: Duration::from_secs(2),
                ipv6_prefix_len: 56,
                max_sources: 1000,
            }
        );
        assert!(!load("auth_failures_per_minute = 0\n").unwrap().enabled());
    }

    #[test]
    fn out_of_range_values_are_located() {
        let cases = [
            (
                "auth_failure_burst = 0\n",
                "gitiam.toml:2:22: auth_failure_burst must be between 1 and 1000000",
            ),
            (
                "listen = \"127.0.0.1:0\"\nauth_block_secs = 0\n",
                "gitiam.toml:3:19: auth_block_secs must be between 1 and 86400",
            ),
            (
                "auth_ipv6_prefix_len = 16\n",
                "gitiam.toml:2:24: auth_ipv6_prefix_len must be between 32 and 128",
            ),
            (
                "auth_ipv6_prefix_len = 129\n",
                "gitiam.toml:2:24: auth_ipv6_prefix_len must be between 32 and 128",
            ),
            (
                "auth_max_sources = 0\n",
                "gitiam.toml:2:20: auth_max_sources must be between 1 and 10000000",
            ),
            (
                "auth_failures_per_minute = 1000001\n",
                "gitiam.toml:2:28: auth_failures_per_minute must be between 0 and 1000000",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(load(text).unwrap_err(), want, "{text}");
        }
        assert!(
            load("auth_block_secs = -1\n")
                .unwrap_err()
                .starts_with("gitiam.toml:2:19:")
        );
    }
}
