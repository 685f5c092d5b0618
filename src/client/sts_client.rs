//! A small synchronous STS client (`AssumeRole`,
//! `AssumeRoleWithWebIdentity`) over `ureq` + rustls, for the credential
//! helper. It is only constructed when a role must be assumed, so answering
//! `get` with static credentials never sets up TLS.
//!
//! Requests use the AWS Query protocol and are signed with `aws-sigv4`'s
//! HTTP signer; answers and errors are AWS's XML shapes.

use super::Credentials;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Largest STS answer read.
const MAX_RESPONSE: u64 = 1 << 20;
/// Whole-request timeout.
const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An STS call failed. Never contains secrets or tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StsError {
    /// STS answered with an AWS error.
    #[error("STS {action} at {endpoint} refused: {code}: {message}")]
    Service {
        /// The STS action.
        action: &'static str,
        /// The endpoint called.
        endpoint: String,
        /// The AWS error code, e.g. `AccessDenied`.
        code: String,
        /// AWS's message (one line, shortened).
        message: String,
    },
    /// STS could not be reached or the exchange failed.
    #[error("STS {action} at {endpoint} failed: {message}")]
    Transport {
        /// The STS action.
        action: &'static str,
        /// The endpoint called.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The answer is not the XML STS sends.
    #[error("STS {action} at {endpoint} sent an unexpected answer: {message}")]
    BadResponse {
        /// The STS action.
        action: &'static str,
        /// The endpoint called.
        endpoint: String,
        /// What is wrong with it.
        message: String,
    },
    /// The CA bundle cannot be used.
    #[error("CA bundle {}: {message}", path.display())]
    CaBundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The endpoint URL is unusable or signing failed.
    #[error("STS endpoint {endpoint}: {message}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
}

/// Parameters of `AssumeRole`.
#[derive(Debug, Clone, Default)]
pub struct AssumeRoleParams {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// `DurationSeconds`.
    pub duration_seconds: Option<u32>,
    /// `ExternalId`.
    pub external_id: Option<String>,
}

/// Parameters of `AssumeRoleWithWebIdentity`. `Debug` hides the token.
#[derive(Clone, Default)]
pub struct WebIdentityParams {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// `DurationSeconds`.
    pub duration_seconds: Option<u32>,
    /// `WebIdentityToken` (an OIDC JWT).
    pub web_identity_token: String,
}

impl std::fmt::Debug for WebIdentityParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentityParams")
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("duration_seconds", &self.duration_seconds)
            .finish_non_exhaustive()
    }
}

/// A configured STS endpoint.
pub struct StsClient {
    endpoint: String,
    region: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for StsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsClient")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The default endpoint when none is configured: AWS's regional STS.
pub fn default_endpoint(region: &str) -> String {
    format!("https://sts.{region}.amazonaws.com")
}

impl StsClient {
    /// A client for `endpoint` signing for `region`, trusting only the
    /// certificates in `ca_bundle` when given (as `AWS_CA_BUNDLE` does),
    /// else the Mozilla roots.
    pub fn new(endpoint: &str, region: &str, ca_bundle: Option<&Path>) -> Result<Self, StsError> {
        let (endpoint, agent) = https_agent(endpoint, ca_bundle)?;
        Ok(Self {
            endpoint,
            region: region.to_owned(),
            agent,
        })
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `AssumeRole` with `source` credentials.
    pub fn assume_role(
        &self,
        source: &Credentials,
        params: &AssumeRoleParams,
    ) -> Result<Credentials, StsError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &params.role_arn)
            .append_pair("RoleSessionName", &params.role_session_name);
        if let Some(d) = params.duration_seconds {
            form.append_pair("DurationSeconds", &d.to_string());
        }
        if let Some(e) = &params.external_id {
            form.append_pair("ExternalId", e);
        }
        self.call("AssumeRole", form.finish(), Some(source))
    }

    /// `AssumeRoleWithWebIdentity` (unsigned, as in AWS).
    pub fn assume_role_with_web_identity(
        &self,
        params: &WebIdentityParams,
    ) -> Result<Credentials, StsError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &params.role_arn)
            .append_pair("RoleSessionName", &params.role_session_name)
            .append_pair("WebIdentityToken", &params.web_identity_token);
        if let Some(d) = params.duration_seconds {
            form.append_pair("DurationSeconds", &d.to_string());
        }
        self.call("AssumeRoleWithWebIdentity", form.finish(), None)
    }

    fn call(
        &self,
        action: &'static str,
        body: String,
        signer: Option<&Credentials>,
    ) -> Result<Credentials, StsError> {
        let url = format!("{}/", self.endpoint);
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut headers: Vec<(String, String)> = vec![("content-type".into(), content_type.into())];
        if let Some(creds) = signer {
            headers.extend(self.sign(&url, content_type, body.as_bytes(), creds)?);
        }
        let mut req = self.agent.post(&url);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let transport = |e: ureq::Error| StsError::Transport {
            action,
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        };
        let resp = req.send(body.as_bytes()).map_err(transport)?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(transport)?;
        let text = String::from_utf8_lossy(&bytes);
        if status.is_success() {
            parse_credentials(&text).map_err(|message| StsError::BadResponse {
                action,
                endpoint: self.endpoint.clone(),
                message,
            })
        } else {
            let (code, message) = parse_error(&text).unwrap_or_else(|| {
                (
                    format!("HTTP {}", status.as_u16()),
                    "no AWS error document in the answer".into(),
                )
            });
            Err(StsError::Service {
                action,
                endpoint: self.endpoint.clone(),
                code,
                message,
            })
        }
    }

    fn sign(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        creds: &Credentials,
    ) -> Result<Vec<(String, String)>, StsError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let bad = |message: String| StsError::Endpoint {
            endpoint: self.endpoint.clone(),
            message,
        };
        let identity = aws_credential_types::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key().to_owned(),
            creds.session_token.clone(),
            None,
            "gitiam",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("sts")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| bad(format!("cannot sign: {e}")))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            std::iter::once(("content-type", content_type)),
            SignableBody::Bytes(body),
        )
        .map_err(|_| bad("not a valid URL".into()))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|_| bad("cannot sign the request".into()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

/// The helper's HTTP client for `endpoint` (returned without a trailing
/// `/`): timeouts, no redirects, HTTP errors as answers, and only the
/// certificates in `ca_bundle` trusted when given (as `AWS_CA_BUNDLE`
/// does), else the Mozilla roots. Shared by the STS and SSO clients.
pub(crate) fn https_agent(
    endpoint: &str,
    ca_bundle: Option<&Path>,
) -> Result<(String, ureq::Agent), StsError> {
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
        return Err(StsError::Endpoint {
            endpoint,
            message: "must start with https:// or http://".into(),
        });
    }
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = ca_bundle {
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(load_ca_bundle(
            path,
        )?)));
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .max_redirects(0)
        .tls_config(tls.build())
        .build();
    Ok((endpoint, ureq::Agent::new_with_config(config)))
}

fn load_ca_bundle(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, StsError> {
    let err = |message: String| StsError::CaBundle {
        path: path.to_owned(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| err(format!("cannot read: {}", e.kind())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) =
            item.map_err(|e| err(format!("bad PEM: {e}")))?
        {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(err("no PEM certificates in the file".into()));
    }
    Ok(certs)
}

/// Text of the first element with each of the `wanted` local names.
fn xml_fields(xml: &str, wanted: &[&str]) -> Result<Vec<Option<String>>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<Option<String>> = vec![None; wanted.len()];
    let mut current: Option<usize> = None;
    let mut text = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid XML: {e}"))?
        {
            Event::Start(e) => {
                current = wanted
                    .iter()
                    .position(|w| w.as_bytes() == e.local_name().as_ref());
                text.clear();
            }
            Event::Text(t) if current.is_some() => {
                text.push_str(&t.decode().map_err(|e| format!("invalid XML text: {e}"))?);
            }
            Event::CData(t) if current.is_some() => {
                text.push_str(&t.decode().map_err(|e| format!("invalid XML text: {e}"))?);
            }
            Event::GeneralRef(r) if current.is_some() => {
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|e| format!("invalid character reference: {e}"))?
                {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| format!("invalid XML text: {e}"))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown XML entity &{name};"))?;
                    text.push_str(resolved);
                }
            }
            Event::End(_) => {
                if let Some(slot) = current.and_then(|i| out.get_mut(i))
                    && slot.is_none()
                {
                    *slot = Some(text.trim().to_owned());
                }
                current = None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Credentials from an `AssumeRole(WithWebIdentity)Response`.
fn parse_credentials(xml: &str) -> Result<Credentials, String> {
    let fields = xml_fields(
        xml,
        &[
            "AccessKeyId",
            "SecretAccessKey",
            "SessionToken",
            "Expiration",
        ],
    )?;
    let mut it = fields.into_iter();
    let (Some(Some(akid)), Some(Some(secret)), Some(Some(token)), Some(Some(exp))) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err("missing AccessKeyId, SecretAccessKey, SessionToken or Expiration".into());
    };
    let expiration = parse_timestamp(&exp).ok_or("Expiration is not an ISO 8601 time")?;
    Ok(Credentials::new(
        akid,
        secret,
        Some(token),
        Some(expiration),
    ))
}

/// `(Code, Message)` from an `ErrorResponse`, made one line and short.
fn parse_error(xml: &str) -> Option<(String, String)> {
    let fields = xml_fields(xml, &["Code", "Message"]).ok()?;
    let mut it = fields.into_iter();
    let code = it.next()??;
    let message = it.next().flatten().unwrap_or_default();
    let one_line = |s: &str, max: usize| -> String {
        let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        s.chars().take(max).collect()
    };
    Some((one_line(&code, 64), one_line(&message, 300)))
}

/// Parses an RFC 3339 / ISO 8601 UTC time as STS and `credential_process`
/// write it (`2026-01-01T00:00:00Z`, optionally with fractions).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn parses_assume_role_response() {
        let xml = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>DevUser123</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/John</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:John</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEPT//////////wEXAMPLEtc764&amp;x</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2019-11-09T13:34:41Z</Expiration>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <PackedPolicySize>8</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#;
        let c = parse_credentials(xml).unwrap();
        assert_eq!(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
        assert_eq!(
            c.secret_access_key(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
        );
        assert_eq!(
            c.session_token.as_deref(),
            Some("AQoDYXdzEPT//////////wEXAMPLEtc764&x")
        );
        assert_eq!(
            c.expiration,
            Some(UNIX_EPOCH + Duration::from_secs(1_573_306_481))
        );
        assert!(parse_credentials("<AssumeRoleResponse/>").is_err());
        assert!(parse_credentials("not xml <<").is_err());
    }

    #[test]
    fn parses_error_response() {
        let xml = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::111122223333:user/alice is not authorized
      to perform: sts:AssumeRole</Message></Error>
  <RequestId>x</RequestId></ErrorResponse>"#;
        let (code, msg) = parse_error(xml).unwrap();
        assert_eq!(code, "AccessDenied");
        assert_eq!(
            msg,
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: sts:AssumeRole"
        );
        assert!(parse_error("<html>502</html>").is_none());
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("2019-11-09T13:34:41.123Z"),
            Some(UNIX_EPOCH + Duration::from_millis(1_573_306_481_123))
        );
        assert_eq!(
            parse_timestamp("2019-11-09T13:34:41+00:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_573_306_481))
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn rejects_bad_endpoints_and_bundles() {
        assert!(matches!(
            StsClient::new("sts.example.com", "us-east-1", None),
            Err(StsError::Endpoint { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "nothing here").unwrap();
        let e = StsClient::new("https://x", "us-east-1", Some(&p)).unwrap_err();
        assert!(e.to_string().contains("no PEM certificates"), "{e}");
    }
}
