//! A push event: one ref the backend updated, and its two bodies, the
//! EventBridge "CodeCommit Repository State Change" event (so consumers
//! written for CodeCommit work unchanged) and CloudEvents 1.0 structured
//! JSON with the same `detail` as `data`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::shared::config::webhooks::{RefEventKind, WebhookFormat};

/// CloudEvents `type` prefix: the type is this + the CodeCommit event name,
/// e.g. `dev.gitiam.codecommit.referenceCreated`.
pub const CLOUDEVENTS_TYPE_PREFIX: &str = "dev.gitiam.codecommit.";

/// One ref update, as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// Random UUID v4; the `webhook-id` on every attempt.
    pub id: String,
    /// RFC 3339 UTC, seconds (`2026-12-03T10:00:00Z`).
    pub time: String,
    /// Region of resource ARNs.
    pub region: String,
    /// Account owning the repository.
    pub account: String,
    /// Repository name.
    pub repository: String,
    /// Created, updated or deleted.
    pub kind: RefEventKind,
    /// Full ref name.
    pub reference: String,
    /// New value (none for a delete).
    pub commit_id: Option<String>,
    /// Old value (none for a create).
    pub old_commit_id: Option<String>,
    /// ARN of the caller (the assumed-role ARN for a role session).
    pub caller_arn: String,
}

/// A random UUID v4 (RFC 9562), lowercase.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

fn uuid_text(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or_default().to_owned();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

/// CodeCommit's `repositoryId` is a UUID fixed at creation; gitiam has no
/// repository records, so it derives one that never changes: SHA-256 of
/// `account/name`, shaped as a UUID (version 8, "custom").
pub fn repository_id(account: &str, repository: &str) -> String {
    let digest = Sha256::digest(format!("gitiam-repository:{account}/{repository}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

/// `branch` for refs/heads/, `tag` for refs/tags/, else the prefix up to
/// the last `/` (e.g. `refs/notes`), and the short name after it.
pub fn reference_type(full: &str) -> (String, String) {
    if let Some(n) = full.strip_prefix("refs/heads/") {
        return ("branch".into(), n.into());
    }
    if let Some(n) = full.strip_prefix("refs/tags/") {
        return ("tag".into(), n.into());
    }
    match full.rsplit_once('/') {
        Some((prefix, name)) => (prefix.into(), name.into()),
        None => (full.into(), full.into()),
    }
}

impl PushEvent {
    /// `arn:aws:codecommit:REGION:ACCOUNT:NAME`.
    pub fn repository_arn(&self) -> String {
        format!(
            "arn:aws:codecommit:{}:{}:{}",
            self.region, self.account, self.repository
        )
    }

    /// The `detail` of the EventBridge event (`data` of the CloudEvent).
    pub fn detail(&self) -> Value {
        let (ref_type, ref_name) = reference_type(&self.reference);
        let mut d = json!({
            "event": self.kind.as_str(),
            "repositoryName": self.repository,
            "repositoryId": repository_id(&self.account, &self.repository),
            "referenceType": ref_type,
            "referenceName": ref_name,
            "referenceFullName": self.reference,
        });
        if let Some(map) = d.as_object_mut() {
            if let Some(c) = &self.commit_id {
                map.insert("commitId".into(), json!(c));
            }
            if let Some(c) = &self.old_commit_id {
                map.insert("oldCommitId".into(), json!(c));
            }
            map.insert("callerUserArn".into(), json!(self.caller_arn));
        }
        d
    }

    /// The body sent to an endpoint of `format`.
    pub fn body(&self, format: WebhookFormat) -> String {
        let value = match format {
            WebhookFormat::EventBridge => json!({
                "version": "0",
                "id": self.id,
                "detail-type": "CodeCommit Repository State Change",
                "source": "aws.codecommit",
                "account": self.account,
                "time": self.time,
                "region": self.region,
                "resources": [self.repository_arn()],
                "detail": self.detail(),
            }),
            WebhookFormat::CloudEvents => json!({
                "specversion": "1.0",
                "id": self.id,
                "source": self.repository_arn(),
                "type": format!("{CLOUDEVENTS_TYPE_PREFIX}{}", self.kind.as_str()),
                "time": self.time,
                "subject": self.reference,
                "datacontenttype": "application/json",
                "data": self.detail(),
            }),
        };
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: RefEventKind) -> PushEvent {
        PushEvent {
            id: uuid_v4(),
            time: "2026-12-03T10:00:00Z".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
            repository: "demo".into(),
            kind,
            reference: "refs/heads/feature".into(),
            commit_id: (kind != RefEventKind::Deleted).then(|| "b".repeat(40)),
            old_commit_id: (kind != RefEventKind::Created).then(|| "a".repeat(40)),
            caller_arn: "arn:aws:iam::111122223333:user/alice".into(),
        }
    }

    #[test]
    fn eventbridge_body() {
        let e = event(RefEventKind::Created);
        let v: Value = serde_json::from_str(&e.body(WebhookFormat::EventBridge)).unwrap();
        assert_eq!(v["detail-type"], "CodeCommit Repository State Change");
        assert_eq!(
            v["resources"][0],
            "arn:aws:codecommit:us-east-1:111122223333:demo"
        );
        assert_eq!(v["detail"]["referenceType"], "branch");
        assert_eq!(v["detail"]["referenceName"], "feature");
        assert!(v["detail"].get("oldCommitId").is_none());
        assert_eq!(v["detail"]["commitId"], "b".repeat(40));
        let d = event(RefEventKind::Deleted);
        let v: Value = serde_json::from_str(&d.body(WebhookFormat::EventBridge)).unwrap();
        assert!(v["detail"].get("commitId").is_none());
    }

    #[test]
    fn cloudevents_body() {
        let e = event(RefEventKind::Updated);
        let v: Value = serde_json::from_str(&e.body(WebhookFormat::CloudEvents)).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "dev.gitiam.codecommit.referenceUpdated");
        assert_eq!(v["subject"], "refs/heads/feature");
        assert_eq!(v["data"]["oldCommitId"], "a".repeat(40));
    }

    #[test]
    fn ids() {
        let a = uuid_v4();
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_ne!(a, uuid_v4());
        assert_eq!(repository_id("1", "demo"), repository_id("1", "demo"));
        assert_ne!(repository_id("1", "demo"), repository_id("2", "demo"));
        assert_eq!(
            reference_type("refs/notes/commits"),
            ("refs/notes".into(), "commits".into())
        );
        assert_eq!(reference_type("refs/tags/v1"), ("tag".into(), "v1".into()));
    }
}
