//! `[[webhooks]]`: where push events go (see `server::events`). The raw
//! serde shape and its validation into [`Webhook`]s; errors carry the span
//! of the offending value so the loader can say file:line:column.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use toml::Spanned;

use super::EnvSecrets;
use crate::shared::policy::matcher::wildcard_match;

/// One `[[webhooks]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub secret: Option<Spanned<String>>,
    pub secret_env: Option<Spanned<String>>,
    pub format: Option<Spanned<String>>,
    pub events: Option<Vec<Spanned<String>>>,
    pub repositories: Option<Vec<Spanned<String>>>,
    pub references: Option<Vec<Spanned<String>>>,
    pub ca: Option<Spanned<String>>,
}

impl fmt::Debug for RawWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawWebhook")
            .field("name", self.name.get_ref())
            .field("url", self.url.get_ref())
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// What a ref update did, as CodeCommit names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefEventKind {
    /// `referenceCreated`
    Created,
    /// `referenceUpdated`
    Updated,
    /// `referenceDeleted`
    Deleted,
}

impl RefEventKind {
    /// All kinds.
    pub const ALL: [RefEventKind; 3] = [Self::Created, Self::Updated, Self::Deleted];

    /// CodeCommit's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "referenceCreated",
            Self::Updated => "referenceUpdated",
            Self::Deleted => "referenceDeleted",
        }
    }

    /// Parses CodeCommit's name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Body format of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// EventBridge's "CodeCommit Repository State Change" event.
    EventBridge,
    /// CloudEvents 1.0 structured JSON.
    CloudEvents,
}

impl WebhookFormat {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventBridge => "eventbridge",
            Self::CloudEvents => "cloudevents",
        }
    }
}

/// A Standard Webhooks signing key (the bytes after `whsec_`).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Parses `whsec_<base64>` (24 to 64 key bytes, as the specification
    /// recommends).
    pub fn parse(s: &str) -> Result<Self, String> {
        let b64 = s
            .strip_prefix("whsec_")
            .ok_or("a webhook secret must start with whsec_")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| "a webhook secret must be whsec_ followed by base64")?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "a webhook secret must hold 24 to 64 key bytes (this one has {})",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// A validated endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Unique name (letters, digits, `-`, `_`): the outbox folder and the
    /// metrics label.
    pub name: String,
    /// `https://...`, or `http://` to a loopback address.
    pub url: http::Uri,
    /// Signing key.
    pub secret: WebhookSecret,
    /// Body format.
    pub format: WebhookFormat,
    /// Kinds sent (all when not configured).
    pub events: Vec<RefEventKind>,
    /// Repository ARN patterns (`*`, `?`); empty: all.
    pub repositories: Vec<String>,
    /// Full ref name patterns; empty: all.
    pub references: Vec<String>,
    /// CA certificates (PEM) trusted for an https receiver instead of the
    /// public roots.
    pub ca: Option<PathBuf>,
}

impl Webhook {
    /// Whether an event of `kind` on ref `reference` of the repository
    /// `repository_arn` goes to this endpoint.
    pub fn wants(&self, kind: RefEventKind, repository_arn: &str, reference: &str) -> bool {
        self.events.contains(&kind)
            && (self.repositories.is_empty()
                || self
                    .repositories
                    .iter()
                    .any(|p| wildcard_match(p, repository_arn)))
            && (self.references.is_empty()
                || self.references.iter().any(|p| wildcard_match(p, reference)))
    }
}

/// A validation error at a span of the file.
pub type SpanError = (Range<usize>, String);

fn at<T>(s: &Spanned<T>, message: impl Into<String>) -> SpanError {
    (s.span(), message.into())
}

/// Longest endpoint name.
pub const MAX_NAME: usize = 64;

/// Validates every `[[webhooks]]` table; relative `ca` paths are resolved
/// from `base`.
pub fn validate(
    raw: &[Spanned<RawWebhook>],
    base: &Path,
    env: EnvSecrets,
) -> Result<Vec<Webhook>, SpanError> {
    let mut out: Vec<Webhook> = Vec::new();
    for table in raw {
        let w = table.get_ref();
        let name = w.name.get_ref();
        if name.is_empty()
            || name.len() > MAX_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(at(
                &w.name,
                format!("webhook name must be 1-{MAX_NAME} letters, digits, - or _"),
            ));
        }
        if out.iter().any(|o| o.name == *name) {
            return Err(at(&w.name, format!("webhook `{name}` is defined twice")));
        }
        let url = check_url(w.url.get_ref()).map_err(|m| at(&w.url, m))?;
        let secret = match (&w.secret, &w.secret_env) {
            (Some(s), None) => WebhookSecret::parse(s.get_ref()).map_err(|m| at(s, m))?,
            (None, Some(var)) => {
                // The placeholder: 32 key bytes, as `whsec_` secrets hold.
                let placeholder = || format!("whsec_{}", "A".repeat(43) + "=");
                let value = env.value(var.get_ref(), placeholder).ok_or_else(|| {
                    at(
                        var,
                        format!("environment variable {} is not set", var.get_ref()),
                    )
                })?;
                WebhookSecret::parse(&value).map_err(|m| at(var, m))?
            }
            _ => {
                return Err(at(
                    table,
                    format!("webhook `{name}`: set exactly one of secret and secret_env"),
                ));
            }
        };
        let format = match &w.format {
            None => WebhookFormat::EventBridge,
            Some(f) => match f.get_ref().as_str() {
                "eventbridge" => WebhookFormat::EventBridge,
                "cloudevents" => WebhookFormat::CloudEvents,
                other => {
                    return Err(at(
                        f,
                        format!("format must be \"eventbridge\" or \"cloudevents\", not {other:?}"),
                    ));
                }
            },
        };
        let events = match &w.events {
            None => RefEventKind::ALL.to_vec(),
            Some(list) => {
                let mut kinds = Vec::new();
                for e in list {
                    let kind = RefEventKind::parse(e.get_ref()).ok_or_else(|| {
                        at(
                            e,
                            format!(
                                "unknown event {:?} (referenceCreated, referenceUpdated, referenceDeleted)",
                                e.get_ref()
                            ),
                        )
                    })?;
                    kinds.push(kind);
                }
                kinds
            }
        };
        let repositories = patterns(w.repositories.as_deref(), |p| {
            if p.starts_with("arn:") {
                Ok(())
            } else {
                Err("repository patterns are ARNs, e.g. arn:aws:codecommit:*:111122223333:app-*")
            }
        })?;
        let references = patterns(w.references.as_deref(), |p| {
            if p.starts_with("refs/") {
                Ok(())
            } else {
                Err("reference patterns are full ref names, e.g. refs/heads/*")
            }
        })?;
        let ca = match &w.ca {
            None => None,
            Some(c) => {
                let path = if Path::new(c.get_ref()).is_absolute() {
                    PathBuf::from(c.get_ref())
                } else {
                    base.join(c.get_ref())
                };
                if !path.is_file() {
                    return Err(at(c, format!("CA file {} does not exist", path.display())));
                }
                if url.scheme_str() != Some("https") {
                    return Err(at(c, "ca is only used with an https:// url"));
                }
                Some(path)
            }
        };
        out.push(Webhook {
            name: name.clone(),
            url,
            secret,
            format,
            events,
            repositories,
            references,
            ca,
        });
    }
    Ok(out)
}

fn patterns(
    list: Option<&[Spanned<String>]>,
    check: impl Fn(&str) -> Result<(), &'static str>,
) -> Result<Vec<String>, SpanError> {
    let mut out = Vec::new();
    for p in list.unwrap_or_default() {
        check(p.get_ref()).map_err(|m| at(p, m))?;
        out.push(p.get_ref().clone());
    }
    Ok(out)
}

/// `https://host[:port]/path`, or `http://` to a loopback address only
/// (events and their signatures must not cross a network in clear text).
fn check_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("{s:?} is not a URL"))?;
    let host = uri.host().ok_or_else(|| format!("{s:?} has no host"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("a webhook URL must not carry credentials".to_owned());
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(uri)
            } else {
                Err("http:// is only allowed to a loopback address; use https://".to_owned())
            }
        }
        _ => Err("a webhook URL must be https:// (or http:// to loopback)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let s = WebhookSecret::parse(&format!("whsec_{key}")).unwrap();
        assert_eq!(s.expose(), &[7u8; 32]);
        assert!(!format!("{s:?}").contains(&key));
        assert!(WebhookSecret::parse(&key).is_err());
        assert!(WebhookSecret::parse("whsec_AAAA").is_err());
    }

    fn load(webhooks: &str) -> Result<Vec<Webhook>, String> {
        let text = format!("[backend]\nrepos = \"repos\"\n{webhooks}");
        crate::shared::config::load_str(Path::new("g.toml"), Path::new("/nonexistent"), &text)
            .map(|c| c.webhooks)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_issue_example_loads() {
        let key = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        // (secret_env is the issue's example; the environment cannot be set
        // here without unsafe code, so the secret is inline.)
        let hooks = load(&format!(
            r#"
[[webhooks]]
name = "ci"
url = "https://ci.example.com/hooks/gitiam"
secret = "whsec_{key}"
format = "eventbridge"
events = ["referenceCreated", "referenceUpdated", "referenceDeleted"]
repositories = ["arn:aws:codecommit:*:111122223333:app-*"]
references = ["refs/heads/*", "refs/tags/v*"]

[[webhooks]]
name = "local"
url = "http://127.0.0.1:9000/"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
format = "cloudevents"
events = ["referenceDeleted"]
"#
        ))
        .unwrap();
        assert_eq!(hooks.len(), 2);
        let ci = &hooks[0];
        assert_eq!(ci.secret.expose(), &[1u8; 32]);
        let arn = "arn:aws:codecommit:us-east-1:111122223333:app-web";
        assert!(ci.wants(RefEventKind::Created, arn, "refs/heads/main"));
        assert!(ci.wants(RefEventKind::Created, arn, "refs/tags/v1.2"));
        assert!(!ci.wants(RefEventKind::Created, arn, "refs/tags/x1"));
        assert!(!ci.wants(
            RefEventKind::Created,
            "arn:aws:codecommit:us-east-1:111122223333:lib",
            "refs/heads/main"
        ));
        assert_eq!(hooks[1].format, WebhookFormat::CloudEvents);
        assert!(!hooks[1].wants(RefEventKind::Created, arn, "refs/heads/main"));
        assert!(hooks[1].wants(RefEventKind::Deleted, arn, "refs/heads/main"));
    }

    #[test]
    fn errors_point_at_the_value() {
        let secret = "secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"";
        let cases = [
            (format!("[[webhooks]]\nname = \"ci\"\nurl = \"http://ci.example.com/\"\n{secret}\n"), "g.toml:5:7: http:// is only allowed to a loopback"),
            ("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\nsecret = \"nope\"\n".to_owned(), "g.toml:6:10: a webhook secret must start with whsec_"),
            (format!("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\n{secret}\nevents = [\"push\"]\n"), "g.toml:7:11: unknown event \"push\""),
            (format!("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\n{secret}\nreferences = [\"main\"]\n"), "g.toml:7:15: reference patterns are full ref names"),
            (format!("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\n{secret}\nformat = \"xml\"\n"), "g.toml:7:10: format must be"),
            (format!("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\n{secret}\nsecrets = 1\n"), "g.toml:7:1: unknown field `secrets`"),
            (format!("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\n{secret}\n[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\n{secret}\n"), "g.toml:8:8: webhook `ci` is defined twice"),
            (format!("[[webhooks]]\nname = \"c i\"\nurl = \"https://x/\"\n{secret}\n"), "g.toml:4:8: webhook name must be"),
            ("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\nsecret_env = \"GITIAM_NO_SUCH_VARIABLE_0\"\n".to_owned(), "g.toml:6:14: environment variable GITIAM_NO_SUCH_VARIABLE_0 is not set"),
            ("[[webhooks]]\nname = \"ci\"\nurl = \"https://x/\"\n".to_owned(), "g.toml:3:1: webhook `ci`: set exactly one of secret and secret_env"),
        ];
        for (text, want) in cases {
            let err = load(&text).unwrap_err();
            assert!(err.starts_with(want), "{err}\nwanted: {want}");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("https://ci.example.com/hook").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://[::1]:8080/hook").is_ok());
        assert!(check_url("http://ci.example.com/hook").is_err());
        assert!(check_url("http://10.0.0.1/hook").is_err());
        assert!(check_url("https://u:p@ci.example.com/").is_err());
        assert!(check_url("ftp://x/").is_err());
    }
}
