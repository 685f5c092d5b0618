//! The `[server]` keys for running replicas behind a load balancer:
//! `proxy_protocol`, `trusted_proxies` and `health_listen`.
//!
//! With `proxy_protocol = "required"` every connection to the HTTPS and SSH
//! listeners must come from an address in `trusted_proxies` and start with
//! a PROXY protocol header, whose source address then stands for the
//! client everywhere (`aws:SourceIp`, audit, throttling, forwarding).
//! Kubernetes probes send no such header: `health_listen` is a separate
//! plain-HTTP listener that answers `/healthz` only, so the rule for Git
//! traffic has no exception.

use std::net::SocketAddr;

use ipnet::IpNet;

use super::raw::RawServer;
use super::{ConfigError, Loader};

/// `proxy_protocol = "required"` with its `trusted_proxies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// Only connections from these networks are accepted (each must then
    /// send a header). Never empty.
    pub trusted: Vec<IpNet>,
}

impl ProxyProtocol {
    /// Whether a connection from `ip` may send a PROXY protocol header.
    pub fn trusts(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }
}

/// The validated fleet keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSettings {
    /// `None`: `proxy_protocol = "off"` (the default): the TCP peer is the
    /// client.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// The plain health listener (`/healthz` only), if any.
    pub health_listen: Option<SocketAddr>,
}

impl Loader<'_> {
    /// Validates `proxy_protocol`, `trusted_proxies` and `health_listen`.
    pub(super) fn fleet(&self, raw: &RawServer) -> Result<FleetSettings, ConfigError> {
        let required = match &raw.proxy_protocol {
            None => false,
            Some(m) => match m.get_ref().as_str() {
                "off" => false,
                "required" => true,
                other => {
                    return Err(self.err(
                        m,
                        format!("proxy_protocol: `{other}` is not \"off\" or \"required\""),
                    ));
                }
            },
        };
        let mut trusted = Vec::new();
        for entry in raw.trusted_proxies.iter().flatten() {
            let text = entry.get_ref();
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    self.err(
                        entry,
                        format!(
                            "trusted_proxies: `{text}` is not a network like 10.0.0.0/8 or an address"
                        ),
                    )
                })?;
            // A host part set below the prefix (10.0.0.1/8) is most likely
            // a typo for a narrower network: refuse rather than guess.
            if net.trunc() != net {
                return Err(self.err(
                    entry,
                    format!(
                        "trusted_proxies: `{text}` has host bits set; did you mean {}?",
                        net.trunc()
                    ),
                ));
            }
            trusted.push(net);
        }
        let proxy_protocol = match (required, &raw.trusted_proxies) {
            (true, _) if trusted.is_empty() => {
                let span = raw
                    .proxy_protocol
                    .as_ref()
                    .map(toml::Spanned::span)
                    .unwrap_or_default();
                return Err(self.at(
                    &span,
                    "proxy_protocol = \"required\" needs trusted_proxies (the load balancers' addresses)",
                ));
            }
            (true, _) => Some(ProxyProtocol { trusted }),
            (false, Some(list)) => {
                let span = list.first().map(toml::Spanned::span).unwrap_or_default();
                return Err(self.at(
                    &span,
                    "trusted_proxies applies only with proxy_protocol = \"required\"",
                ));
            }
            (false, None) => None,
        };
        let health_listen = match &raw.health_listen {
            None => None,
            Some(s) => Some(s.get_ref().parse().map_err(|_| {
                self.err(
                    s,
                    format!(
                        "health_listen: `{}` is not an address like 0.0.0.0:8081",
                        s.get_ref()
                    ),
                )
            })?),
        };
        Ok(FleetSettings {
            proxy_protocol,
            health_listen,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::shared::config::load_str;

    fn load(server: &str) -> Result<FleetSettings, String> {
        let text = format!("[server]\n{server}");
        load_str(Path::new("gitiam.toml"), Path::new("/tmp"), &text)
            .map(|c| c.server.fleet)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn off_by_default_and_required_with_trusted_networks() {
        assert_eq!(load("").unwrap(), FleetSettings::default());
        assert_eq!(
            load("proxy_protocol = \"off\"\n").unwrap(),
            FleetSettings::default()
        );
        let f = load(
            "proxy_protocol = \"required\"\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.3\", \"fd00::/8\"]\n\
             health_listen = \"0.0.0.0:8081\"\n",
        )
        .unwrap();
        let p = f.proxy_protocol.unwrap();
        assert_eq!(p.trusted.len(), 3);
        assert!(p.trusts("10.1.2.3".parse().unwrap()));
        assert!(p.trusts("127.0.0.3".parse().unwrap()));
        assert!(p.trusts("::ffff:10.9.9.9".parse().unwrap()));
        assert!(p.trusts("fd12::1".parse().unwrap()));
        assert!(!p.trusts("127.0.0.1".parse().unwrap()));
        assert!(!p.trusts("192.0.2.1".parse().unwrap()));
        assert_eq!(f.health_listen, Some("0.0.0.0:8081".parse().unwrap()));
    }

    #[test]
    fn mistakes_are_located() {
        let cases = [
            (
                "proxy_protocol = \"on\"\n",
                "gitiam.toml:2:18: proxy_protocol: `on` is not \"off\" or \"required\"",
            ),
            (
                "proxy_protocol = \"required\"\n",
                "gitiam.toml:2:18: proxy_protocol = \"required\" needs trusted_proxies",
            ),
            (
                "proxy_protocol = \"required\"\ntrusted_proxies = []\n",
                "gitiam.toml:2:18: proxy_protocol = \"required\" needs trusted_proxies",
            ),
            (
                "trusted_proxies = [\"10.0.0.0/8\"]\n",
                "gitiam.toml:2:20: trusted_proxies applies only with proxy_protocol = \"required\"",
            ),
            (
                "proxy_protocol = \"required\"\ntrusted_proxies = [\"10.0.0.1/8\"]\n",
                "gitiam.toml:3:20: trusted_proxies: `10.0.0.1/8` has host bits set; did you mean 10.0.0.0/8?",
            ),
            (
                "proxy_protocol = \"required\"\ntrusted_proxies = [\"lb.internal\"]\n",
                "gitiam.toml:3:20: trusted_proxies: `lb.internal` is not a network",
            ),
            (
                "health_listen = \"8081\"\n",
                "gitiam.toml:2:17: health_listen: `8081` is not an address like 0.0.0.0:8081",
            ),
        ];
        for (input, expected) in cases {
            let e = load(input).unwrap_err();
            assert!(e.starts_with(expected), "{input}: {e}");
        }
    }
}
