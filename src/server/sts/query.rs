//! The AWS Query protocol as STS speaks it: a form-encoded POST body with
//! `Action`, `Version=2011-06-15` and the operation's parameters
//! (`Tags.member.N.Key`, ...), parsed into typed inputs and validated with
//! the constraints and messages STS uses (`1 validation error detected:
//! Value '...' at 'roleSessionName' failed to satisfy constraint: ...`).
//!
//! Checks that need the role (its `max_session_duration`, role chaining)
//! are the handler's; everything decidable from the request alone is here.

use std::collections::{BTreeMap, HashMap};

use super::error::{ErrorCode, StsError};
use crate::shared::policy::{Policy, PolicyKind};

/// The only API version STS has.
pub const VERSION: &str = "2011-06-15";
/// Largest form body accepted (a web identity token may be 20,000
/// characters; everything else is small).
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Most parameters accepted in one request.
const MAX_PARAMS: usize = 256;
/// Most session tags per request, as in AWS.
const MAX_TAGS: usize = 50;
/// Longest session policy (plain text), as in AWS.
pub const MAX_POLICY_CHARS: usize = 2048;

/// A parsed and validated STS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StsAction {
    GetCallerIdentity,
    AssumeRole(AssumeRoleInput),
    AssumeRoleWithWebIdentity(WebIdentityInput),
}

impl StsAction {
    /// The operation name (`AssumeRole`, ...), for logs and audit lines.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GetCallerIdentity => "GetCallerIdentity",
            Self::AssumeRole(_) => "AssumeRole",
            Self::AssumeRoleWithWebIdentity(_) => "AssumeRoleWithWebIdentity",
        }
    }
}

/// `AssumeRole` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<u32>,
    pub external_id: Option<String>,
    pub policy: Option<SessionPolicy>,
    pub source_identity: Option<String>,
    /// Session tags in request order (keys unique case-insensitively).
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
}

/// `AssumeRoleWithWebIdentity` parameters. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct WebIdentityInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub web_identity_token: String,
    pub duration_seconds: Option<u32>,
    pub policy: Option<SessionPolicy>,
}

impl std::fmt::Debug for WebIdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentityInput")
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("web_identity_token", &"<redacted>")
            .field("duration_seconds", &self.duration_seconds)
            .field("policy", &self.policy)
            .finish()
    }
}

/// A session policy: its text (kept for the token) and proof it parsed as a
/// session policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    pub text: String,
}

/// Raw parameters of a form body; a repeated name is an error (a request
/// that says two things is not guessed at).
struct Params(HashMap<String, String>);

impl Params {
    fn parse(body: &[u8]) -> Result<Self, StsError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(StsError::validation(format!(
                "The request body is larger than {MAX_FORM_BYTES} bytes"
            )));
        }
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if map.len() >= MAX_PARAMS {
                return Err(StsError::validation("Too many request parameters"));
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(StsError::validation(format!(
                    "Parameter {name} is given more than once"
                )));
            }
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Collects constraint violations so one answer lists them all, as AWS
/// does.
#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    fn add(&mut self, value: Option<&str>, member: &str, constraint: &str) {
        let shown = match value {
            Some(v) => format!("'{v}'"),
            None => "null".to_owned(),
        };
        self.0.push(format!(
            "Value {shown} at '{member}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Checks length (in characters) and the character class of a value.
    fn check(
        &mut self,
        value: &str,
        member: &str,
        (min, max): (usize, usize),
        pattern: (&str, fn(char) -> bool),
    ) {
        let len = value.chars().count();
        if len < min {
            self.add(
                Some(value),
                member,
                &format!("Member must have length greater than or equal to {min}"),
            );
        } else if len > max {
            self.add(
                Some(value),
                member,
                &format!("Member must have length less than or equal to {max}"),
            );
        } else if !value.chars().all(pattern.1) {
            self.add(
                Some(value),
                member,
                &format!(
                    "Member must satisfy regular expression pattern: {}",
                    pattern.0
                ),
            );
        }
    }

    fn required<'a>(&mut self, params: &'a Params, name: &str, member: &str) -> &'a str {
        match params.get(name) {
            Some(v) => v,
            None => {
                self.add(None, member, "Member must not be null");
                ""
            }
        }
    }

    fn finish(self) -> Result<(), StsError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(StsError::validation(format!(
                "1 validation error detected: {}",
                self.0.join("; ")
            ))),
            n => Err(StsError::validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `[\w+=,.@-]*`: role session names and source identities.
const SESSION_NAME: (&str, fn(char) -> bool) =
    (r"[\w+=,.@-]*", |c| word(c) || "+=,.@-".contains(c));
/// `[\w+=,.@:/-]*`: external ids.
const EXTERNAL_ID: (&str, fn(char) -> bool) =
    (r"[\w+=,.@:\/-]*", |c| word(c) || "+=,.@:/-".contains(c));
/// `[\u0009\u000A\u000D\u0020-\u00FF]+`: policies and role ARNs.
const TEXT: (&str, fn(char) -> bool) = (r"[\u0009\u000A\u000D\u0020-\u00FF]+", |c| {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}')
});
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`: tag keys (values also allow empty).
const TAG: (&str, fn(char) -> bool) = (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", |c| {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
});
/// `[A-Za-z0-9._-]+`: web identity tokens (JWS compact form).
const TOKEN: (&str, fn(char) -> bool) =
    (r"[\u0021-\u007E]+", |c| ('\u{21}'..='\u{7e}').contains(&c));

/// Parses and validates a form body into an [`StsAction`].
pub fn parse(body: &[u8]) -> Result<StsAction, StsError> {
    let params = Params::parse(body)?;
    let action = params
        .get("Action")
        .ok_or_else(|| StsError::new(ErrorCode::MissingAction, "Missing Action parameter"))?;
    let version = params.get("Version").unwrap_or("");
    let known = matches!(
        action,
        "GetCallerIdentity" | "AssumeRole" | "AssumeRoleWithWebIdentity"
    );
    if !known || version != VERSION {
        return Err(StsError::new(
            ErrorCode::InvalidAction,
            format!(
                "Could not find operation {} for version {}",
                truncate(action, 64),
                if version.is_empty() {
                    "NO_VERSION_SPECIFIED"
                } else {
                    truncate(version, 32)
                }
            ),
        ));
    }
    if params.get("PolicyArns.member.1.arn").is_some() {
        return Err(StsError::validation(
            "PolicyArns are not supported by gitiam: pass the session policy inline in Policy",
        ));
    }
    if params.get("SerialNumber").is_some() || params.get("TokenCode").is_some() {
        return Err(StsError::validation(
            "MFA (SerialNumber, TokenCode) is not supported by gitiam",
        ));
    }
    match action {
        "GetCallerIdentity" => Ok(StsAction::GetCallerIdentity),
        "AssumeRole" => assume_role(&params).map(StsAction::AssumeRole),
        _ => web_identity(&params).map(StsAction::AssumeRoleWithWebIdentity),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// `RoleArn` and `RoleSessionName`, required by both AssumeRole calls.
fn role_and_session_name(params: &Params, v: &mut Violations) -> (String, String) {
    let role_arn = v.required(params, "RoleArn", "roleArn").to_owned();
    if params.get("RoleArn").is_some() {
        v.check(&role_arn, "roleArn", (20, 2048), TEXT);
    }
    let role_session_name = v
        .required(params, "RoleSessionName", "roleSessionName")
        .to_owned();
    if params.get("RoleSessionName").is_some() {
        v.check(&role_session_name, "roleSessionName", (2, 64), SESSION_NAME);
    }
    (role_arn, role_session_name)
}

fn assume_role(params: &Params) -> Result<AssumeRoleInput, StsError> {
    let mut v = Violations::default();
    let (role_arn, role_session_name) = role_and_session_name(params, &mut v);
    let duration_seconds = duration(params, &mut v);
    let external_id = params.get("ExternalId").map(str::to_owned);
    if let Some(id) = &external_id {
        v.check(id, "externalId", (2, 1224), EXTERNAL_ID);
    }
    let source_identity = params.get("SourceIdentity").map(str::to_owned);
    if let Some(s) = &source_identity {
        v.check(s, "sourceIdentity", (2, 64), SESSION_NAME);
    }
    let policy_text = policy_param(params, &mut v);
    let tags = tags(params, &mut v);
    let transitive_tag_keys = members(params, "TransitiveTagKeys.member.");
    v.finish()?;
    if let Some(s) = &source_identity
        && s.to_ascii_lowercase().starts_with("aws:")
    {
        return Err(StsError::validation(
            "SourceIdentity cannot begin with the prefix aws:",
        ));
    }
    let tags = tags?;
    for key in &transitive_tag_keys {
        if !tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(StsError::validation(
                "The specified transitive tag key must be included in the requested tags.",
            ));
        }
    }
    let policy = policy_text.map(session_policy).transpose()?;
    Ok(AssumeRoleInput {
        role_arn,
        role_session_name,
        duration_seconds,
        external_id,
        policy,
        source_identity,
        tags,
        transitive_tag_keys,
    })
}

fn web_identity(params: &Params) -> Result<WebIdentityInput, StsError> {
    let mut v = Violations::default();
    let (role_arn, role_session_name) = role_and_session_name(params, &mut v);
    let token = params.get("WebIdentityToken");
    match token {
        None => v.add(None, "webIdentityToken", "Member must not be null"),
        // Never echo the token back: it is a credential.
        Some(t) if t.len() < 4 || t.len() > 20_000 || !t.chars().all(TOKEN.1) => {
            v.0.push(
                "Value at 'webIdentityToken' failed to satisfy constraint: Member must have \
                 length between 4 and 20000 and printable ASCII characters"
                    .to_owned(),
            );
        }
        Some(_) => {}
    }
    let duration_seconds = duration(params, &mut v);
    let policy_text = policy_param(params, &mut v);
    v.finish()?;
    let policy = policy_text.map(session_policy).transpose()?;
    Ok(WebIdentityInput {
        role_arn,
        role_session_name,
        web_identity_token: token.unwrap_or_default().to_owned(),
        duration_seconds,
        policy,
    })
}

fn duration(params: &Params, v: &mut Violations) -> Option<u32> {
    let text = params.get("DurationSeconds")?;
    match text.parse::<u32>() {
        Ok(d) if d < 900 => {
            v.add(
                Some(text),
                "durationSeconds",
                "Member must have value greater than or equal to 900",
            );
            None
        }
        Ok(d) if d > 43_200 => {
            v.add(
                Some(text),
                "durationSeconds",
                "Member must have value less than or equal to 43200",
            );
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            v.add(
                Some(truncate(text, 32)),
                "durationSeconds",
                "Member must be an integer",
            );
            None
        }
    }
}

fn policy_param(params: &Params, v: &mut Violations) -> Option<String> {
    let text = params.get("Policy")?;
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_POLICY_CHARS || !text.chars().all(TEXT.1) {
        // The document itself is not echoed (it may be long).
        v.0.push(format!(
            "Value at 'policy' failed to satisfy constraint: Member must have length between 1 \
             and {MAX_POLICY_CHARS} and satisfy regular expression pattern: {}",
            TEXT.0
        ));
        return None;
    }
    Some(text.to_owned())
}

fn session_policy(text: String) -> Result<SessionPolicy, StsError> {
    match Policy::parse_as("session policy", &text, PolicyKind::Session) {
        Ok(_) => Ok(SessionPolicy { text }),
        Err(e) => Err(StsError::new(
            ErrorCode::MalformedPolicyDocument,
            format!("The policy is not valid: {e}"),
        )),
    }
}

/// `PREFIX1`, `PREFIX2`, ... until the first gap.
fn members(params: &Params, prefix: &str) -> Vec<String> {
    (1..=MAX_PARAMS)
        .map_while(|i| params.get(&format!("{prefix}{i}")).map(str::to_owned))
        .collect()
}

fn tags(params: &Params, v: &mut Violations) -> Result<Vec<(String, String)>, StsError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    for i in 1..=MAX_PARAMS {
        let key = params.get(&format!("Tags.member.{i}.Key"));
        let value = params.get(&format!("Tags.member.{i}.Value"));
        let (key, value) = match (key, value) {
            (None, None) => break,
            (Some(k), Some(val)) => (k, val),
            (k, _) => {
                v.add(
                    k,
                    &format!(
                        "tags.{i}.member.{}",
                        if k.is_none() { "key" } else { "value" }
                    ),
                    "Member must not be null",
                );
                continue;
            }
        };
        v.check(key, &format!("tags.{i}.member.key"), (1, 128), TAG);
        if !value.is_empty() {
            v.check(value, &format!("tags.{i}.member.value"), (0, 256), TAG);
        }
        if seen.insert(key.to_lowercase(), ()).is_some() {
            return Err(StsError::validation(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    if out.len() > MAX_TAGS {
        v.add(
            Some(&out.len().to_string()),
            "tags",
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        );
    }
    if out
        .iter()
        .any(|(k, _)| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(StsError::validation(
            "Tag keys cannot start with the prefix aws:",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(pairs: &[(&str, &str)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    fn err(pairs: &[(&str, &str)]) -> StsError {
        parse(&body(pairs)).unwrap_err()
    }

    const BASE: &[(&str, &str)] = &[
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::444455556666:role/deployer"),
        ("RoleSessionName", "ci-run"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = BASE.to_vec();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn parses_assume_role_with_everything() {
        let pairs = with(&[
            ("DurationSeconds", "1800"),
            ("ExternalId", "ext-123:abc/x"),
            ("SourceIdentity", "alice@example.com"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "web"),
            ("Tags.member.2.Key", "cost center"),
            ("Tags.member.2.Value", ""),
            ("TransitiveTagKeys.member.1", "team"),
            (
                "Policy",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"codecommit:GitPull","Resource":"*"}]}"#,
            ),
        ]);
        let StsAction::AssumeRole(input) = parse(&body(&pairs)).unwrap() else {
            panic!("not AssumeRole")
        };
        assert_eq!(input.duration_seconds, Some(1800));
        assert_eq!(input.external_id.as_deref(), Some("ext-123:abc/x"));
        assert_eq!(input.tags.len(), 2);
        assert_eq!(input.transitive_tag_keys, vec!["team".to_owned()]);
        assert!(input.policy.is_some());
    }

    #[test]
    fn actions_and_versions() {
        assert_eq!(
            parse(&body(&[
                ("Action", "GetCallerIdentity"),
                ("Version", "2011-06-15")
            ]))
            .unwrap(),
            StsAction::GetCallerIdentity
        );
        let e = err(&[("Action", "GetSessionToken"), ("Version", "2011-06-15")]);
        assert_eq!(e.code, ErrorCode::InvalidAction);
        assert_eq!(
            e.message,
            "Could not find operation GetSessionToken for version 2011-06-15"
        );
        assert_eq!(
            err(&[("Action", "AssumeRole")]).code,
            ErrorCode::InvalidAction
        );
        assert_eq!(
            err(&[("Version", "2011-06-15")]).code,
            ErrorCode::MissingAction
        );
        let dup = b"Action=GetCallerIdentity&Action=AssumeRole&Version=2011-06-15";
        assert_eq!(parse(dup).unwrap_err().code, ErrorCode::ValidationError);
        assert_eq!(
            parse(&vec![b'a'; MAX_FORM_BYTES + 1]).unwrap_err().code,
            ErrorCode::ValidationError
        );
    }

    #[test]
    fn aws_validation_messages() {
        let e = err(&[("Action", "AssumeRole"), ("Version", "2011-06-15")]);
        assert_eq!(
            e.message,
            "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: \
             Member must not be null; Value null at 'roleSessionName' failed to satisfy \
             constraint: Member must not be null"
        );
        let mut pairs = BASE.to_vec();
        pairs[3] = ("RoleSessionName", "bad name!");
        assert_eq!(
            err(&pairs).message,
            "1 validation error detected: Value 'bad name!' at 'roleSessionName' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        );
        pairs[3] = ("RoleSessionName", "x");
        assert!(
            err(&pairs)
                .message
                .contains("Member must have length greater than or equal to 2")
        );
        let e = err(&with(&[("DurationSeconds", "899")]));
        assert!(
            e.message
                .contains("Member must have value greater than or equal to 900"),
            "{e}"
        );
        assert!(
            err(&with(&[("ExternalId", "x")]))
                .message
                .contains("'externalId'")
        );
        assert!(
            err(&with(&[("SourceIdentity", "a b")]))
                .message
                .contains("'sourceIdentity'")
        );
        assert_eq!(
            err(&with(&[("SourceIdentity", "aws:me")])).code,
            ErrorCode::ValidationError
        );
    }

    #[test]
    fn session_policy_must_parse() {
        let e = err(&with(&[("Policy", "{not json")]));
        assert_eq!(e.code, ErrorCode::MalformedPolicyDocument);
        let long = format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[]{}}}",
            " ".repeat(2048)
        );
        let pairs: Vec<(&str, &str)> = with(&[])
            .into_iter()
            .chain([("Policy", long.as_str())])
            .collect();
        assert_eq!(
            parse(&body(&pairs)).unwrap_err().code,
            ErrorCode::ValidationError
        );
    }

    #[test]
    fn tag_rules() {
        let e = err(&with(&[
            ("Tags.member.1.Key", "Team"),
            ("Tags.member.1.Value", "a"),
            ("Tags.member.2.Key", "team"),
            ("Tags.member.2.Value", "b"),
        ]));
        assert!(e.message.starts_with("Duplicate tag keys found"));
        assert_eq!(
            err(&with(&[
                ("Tags.member.1.Key", "aws:x"),
                ("Tags.member.1.Value", "a")
            ]))
            .code,
            ErrorCode::ValidationError
        );
        assert_eq!(
            err(&with(&[
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "a"),
                ("TransitiveTagKeys.member.1", "other")
            ]))
            .code,
            ErrorCode::ValidationError
        );
    }

    #[test]
    fn web_identity_and_token_not_echoed() {
        let pairs = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::444455556666:role/ci"),
            ("RoleSessionName", "gh"),
            ("WebIdentityToken", "aaa.bbb.ccc"),
        ];
        let StsAction::AssumeRoleWithWebIdentity(input) = parse(&body(&pairs)).unwrap() else {
            panic!()
        };
        assert_eq!(input.web_identity_token, "aaa.bbb.ccc");
        assert!(!format!("{input:?}").contains("aaa.bbb"));
        let mut bad = pairs;
        bad[4] = ("WebIdentityToken", "secret token with spaces");
        let e = parse(&body(&bad)).unwrap_err();
        assert!(!e.message.contains("secret"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// A valid AssumeRole form, in any parameter order, parses to what
        /// it says.
        #[test]
        fn assume_role_forms_parse_to_what_they_say(
            session in "[A-Za-z0-9_+=,.@-]{2,64}",
            duration in proptest::option::of(900u32..=43_200),
            external_id in proptest::option::of("[A-Za-z0-9_+=,.@:/-]{2,60}"),
            tags in proptest::collection::btree_map("t[a-z0-9]{0,10}", "[A-Za-z0-9 _.:/=+@-]{0,20}", 0..5),
            rotate in 0usize..16,
        ) {
            let duration_text = duration.map(|d| d.to_string());
            let mut pairs: Vec<(String, String)> = BASE
                .iter()
                .filter(|(k, _)| *k != "RoleSessionName")
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            pairs.push(("RoleSessionName".into(), session.clone()));
            if let Some(d) = &duration_text {
                pairs.push(("DurationSeconds".into(), d.clone()));
            }
            if let Some(e) = &external_id {
                pairs.push(("ExternalId".into(), e.clone()));
            }
            for (i, (k, v)) in tags.iter().enumerate() {
                pairs.push((format!("Tags.member.{}.Key", i + 1), k.clone()));
                pairs.push((format!("Tags.member.{}.Value", i + 1), v.clone()));
            }
            let n = pairs.len();
            pairs.rotate_left(rotate % n);
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let StsAction::AssumeRole(input) = parse(&body(&refs)).unwrap() else {
                panic!("not AssumeRole")
            };
            proptest::prop_assert_eq!(input.role_session_name, session);
            proptest::prop_assert_eq!(input.duration_seconds, duration);
            proptest::prop_assert_eq!(input.external_id, external_id);
            let expected: Vec<(String, String)> = tags.into_iter().collect();
            proptest::prop_assert_eq!(input.tags, expected);
        }

        /// Any body: an answer, never a panic; a failed request always
        /// says why.
        #[test]
        fn any_form_body(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Err(e) = parse(&body) {
                proptest::prop_assert!(!e.message.is_empty());
            }
        }
    }
}
