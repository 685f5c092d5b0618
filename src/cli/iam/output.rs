//! What `gitiam iam` prints: the JSON the AWS CLI prints for the same call
//! (its field names and order, four-space indentation, times as
//! `2026-12-03T10:00:00+00:00`), and errors shaped like the AWS CLI's
//! (`An error occurred (CODE) when calling the OPERATION operation: ...`).

use std::path::PathBuf;

use serde::Serialize;

use crate::shared::config::ConfigError;

/// An error IAM would answer with its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("An error occurred ({code}) when calling the {operation} operation: {message}")]
pub struct IamError {
    /// `NoSuchEntity`, `EntityAlreadyExists`, `LimitExceeded`,
    /// `DeleteConflict`, ...
    pub code: &'static str,
    /// `CreateUser`, ...
    pub operation: &'static str,
    /// IAM's wording.
    pub message: String,
}

impl IamError {
    /// An error with `code`.
    pub fn new(code: &'static str, operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            operation,
            message: message.into(),
        }
    }

    /// `NoSuchEntity` for a user.
    pub fn no_such_user(name: &str, operation: &'static str) -> Self {
        Self::new(
            "NoSuchEntity",
            operation,
            format!("The user with name {name} cannot be found."),
        )
    }
}

/// Why a `gitiam iam` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// IAM's answer.
    #[error(transparent)]
    Iam(#[from] IamError),
    /// The configuration does not load as it is.
    #[error("the configuration does not load: {0}")]
    Invalid(ConfigError),
    /// The change would make the configuration fail to load: not written.
    #[error(
        "refused, the file is unchanged: after this change the configuration would not load: {0}"
    )]
    Refused(ConfigError),
    /// The file is not TOML (after the loader accepted it: unexpected).
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    /// `--account-id` is missing or unknown.
    #[error("{0}")]
    Account(String),
    /// Reading or writing the file failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The lock file (`<config>.lock`) cannot be made or locked.
    #[error("cannot lock {0} (held while the configuration is edited): {1}; the file is unchanged")]
    Lock(PathBuf, std::io::Error),
    /// The replaced file could not be given the original's owner.
    #[error(
        "cannot keep the owner {uid}:{gid} of {}: run as its owner or root; the file is unchanged ({source})",
        path.display()
    )]
    Owner {
        /// The configuration file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its group.
        gid: u32,
        /// Why the owner could not be given.
        source: std::io::Error,
    },
}

/// `{"KEY": value}`, with `value` serialized as itself: a struct keeps its
/// fields in their declared order, the AWS CLI's (through
/// `serde_json::json!` they would come out sorted).
pub fn one<T: Serialize>(
    key: &'static str,
    value: T,
) -> std::collections::BTreeMap<&'static str, T> {
    std::collections::BTreeMap::from([(key, value)])
}

/// Prints `value` as the AWS CLI does (JSON, four spaces).
pub fn print_json(value: &impl Serialize) {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    if value.serialize(&mut ser).is_ok() {
        outln!("{}", String::from_utf8_lossy(&out));
    }
}

/// Now, as stored in the configuration (`2026-12-03T10:00:00Z`).
pub fn now_rfc3339() -> String {
    crate::shared::timestamp::utc_seconds(std::time::SystemTime::now())
}

/// A stored time as the AWS CLI prints it (`+00:00`); `None` when absent
/// or unreadable.
pub fn aws_time(stored: Option<&str>) -> Option<String> {
    let t = time::OffsetDateTime::parse(stored?, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let t = t.to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    t.format(&format).ok()
}

/// `User` of CreateUser and ListUsers.
#[derive(Debug, Serialize)]
pub struct User {
    #[serde(rename = "Path")]
    pub path: &'static str,
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "UserId")]
    pub user_id: String,
    #[serde(rename = "Arn")]
    pub arn: String,
    #[serde(rename = "CreateDate", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
}

/// `Group` of CreateGroup.
#[derive(Debug, Serialize)]
pub struct Group {
    #[serde(rename = "Path")]
    pub path: &'static str,
    #[serde(rename = "GroupName")]
    pub group_name: String,
    #[serde(rename = "GroupId")]
    pub group_id: String,
    #[serde(rename = "Arn")]
    pub arn: String,
    #[serde(rename = "CreateDate")]
    pub create_date: String,
}

/// `AccessKey` of CreateAccessKey (the only place the secret appears).
#[derive(Serialize)]
pub struct AccessKey {
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "Status")]
    pub status: &'static str,
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
    #[serde(rename = "CreateDate")]
    pub create_date: String,
}

/// An entry of ListAccessKeys' `AccessKeyMetadata` (never the secret).
#[derive(Debug, Serialize)]
pub struct AccessKeyMetadata {
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "CreateDate", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
}

/// `SSHPublicKey` of UploadSSHPublicKey.
#[derive(Debug, Serialize)]
pub struct SshPublicKey {
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "SSHPublicKeyId")]
    pub ssh_public_key_id: String,
    #[serde(rename = "Fingerprint")]
    pub fingerprint: String,
    #[serde(rename = "SSHPublicKeyBody")]
    pub ssh_public_key_body: String,
    #[serde(rename = "Status")]
    pub status: &'static str,
    #[serde(rename = "UploadDate")]
    pub upload_date: String,
}

/// An entry of ListSSHPublicKeys' `SSHPublicKeys`.
#[derive(Debug, Serialize)]
pub struct SshPublicKeyMetadata {
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "SSHPublicKeyId")]
    pub ssh_public_key_id: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "UploadDate", skip_serializing_if = "Option::is_none")]
    pub upload_date: Option<String>,
}

/// `ServiceSpecificCredential` of Create- and ResetServiceSpecificCredential
/// (the only places the password appears).
#[derive(Serialize)]
pub struct ServiceSpecificCredential {
    #[serde(rename = "CreateDate")]
    pub create_date: Option<String>,
    #[serde(rename = "ServiceName")]
    pub service_name: &'static str,
    #[serde(rename = "ServiceUserName")]
    pub service_user_name: String,
    #[serde(rename = "ServicePassword")]
    pub service_password: String,
    #[serde(rename = "ServiceSpecificCredentialId")]
    pub service_specific_credential_id: String,
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "Status")]
    pub status: String,
}

/// An entry of ListServiceSpecificCredentials (never the password).
#[derive(Debug, Serialize)]
pub struct ServiceSpecificCredentialMetadata {
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "ServiceUserName")]
    pub service_user_name: String,
    #[serde(rename = "CreateDate", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
    #[serde(rename = "ServiceSpecificCredentialId")]
    pub service_specific_credential_id: String,
    #[serde(rename = "ServiceName")]
    pub service_name: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_errors_look_like_the_aws_cli() {
        assert_eq!(
            aws_time(Some("2026-12-03T10:00:00Z")).as_deref(),
            Some("2026-12-03T10:00:00+00:00")
        );
        assert_eq!(aws_time(Some("yesterday")), None);
        assert!(now_rfc3339().ends_with('Z'));
        assert_eq!(
            IamError::no_such_user("bob", "DeleteUser").to_string(),
            "An error occurred (NoSuchEntity) when calling the DeleteUser operation: The user with name bob cannot be found."
        );
    }
}
