//! Access keys (create/update/delete/list-access-key(s)) and SSH public
//! keys (upload/update/delete/list-ssh-public-key(s)).
//!
//! A new access key's secret is written as `secret = "..."`, as an
//! administrator writes one by hand (the file keeps its mode: keep it
//! 0600); the secret is printed once and never listed.

use base64::Engine as _;
use rand::RngCore as _;

use super::document::{ConfigDocument, entries, inline, push, set_str, str_of};
use super::output::{self, CliError, IamError};
use super::{Status, edit_entry, find_entry, selected_users};
use crate::shared::config::git_credential::random_id;
use crate::shared::config::ssh;

/// Access keys per user, as in IAM.
const MAX_ACCESS_KEYS: usize = 2;
/// SSH public keys per user, as in IAM.
const MAX_SSH_KEYS: usize = 5;

/// `create-access-key --user-name N`.
pub fn create_access_key(doc: &mut ConfigDocument, name: &str) -> Result<(), CliError> {
    const OP: &str = "CreateAccessKey";
    let user = doc.user(name, OP)?;
    let user_name = str_of(user, "name").unwrap_or(name).to_string();
    if entries(user, "access_keys").len() >= MAX_ACCESS_KEYS {
        return Err(IamError::new(
            "LimitExceeded",
            OP,
            format!("Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"),
        )
        .into());
    }
    let id = random_id("AKIA", 16);
    // 30 random bytes: 40 base64 characters, the length of AWS's secrets.
    let mut bytes = [0u8; 30];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::STANDARD.encode(bytes);
    let created = output::now_rfc3339();
    let table = doc.user_mut(name, OP)?;
    push(
        table,
        "access_keys",
        inline(&[("id", &id), ("secret", &secret), ("created", &created)]),
        false,
    );
    doc.save()?;
    warn_if_readable(doc);
    output::print_json(&output::one(
        "AccessKey",
        output::AccessKey {
            user_name,
            access_key_id: id,
            status: "Active",
            secret_access_key: secret,
            create_date: output::aws_time(Some(&created)).unwrap_or_default(),
        },
    ));
    Ok(())
}

/// A secret in a file others can read deserves a word.
fn warn_if_readable(doc: &ConfigDocument) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(doc.path())
            && m.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "gitiam iam: warning: {} now holds a secret and other users can read it (chmod 600)",
                doc.path().display()
            );
        }
    }
}

fn no_such_key(kind: &str, id: &str, operation: &'static str) -> IamError {
    IamError::new(
        "NoSuchEntity",
        operation,
        format!("The {kind} with id {id} cannot be found."),
    )
}

/// `update-access-key --access-key-id ID --status S [--user-name N]`.
pub fn update_access_key(
    doc: &mut ConfigDocument,
    id: &str,
    status: Status,
    user_name: Option<&str>,
) -> Result<(), CliError> {
    const OP: &str = "UpdateAccessKey";
    let found = find_entry(doc, "access_keys", id, user_name)
        .ok_or_else(|| no_such_key("Access Key", id, OP))?;
    edit_entry(
        doc,
        "access_keys",
        &found,
        OP,
        Some(&|e| set_str(e, "status", status.as_str())),
    )?;
    doc.save()
}

/// `delete-access-key --access-key-id ID [--user-name N]`.
pub fn delete_access_key(
    doc: &mut ConfigDocument,
    id: &str,
    user_name: Option<&str>,
) -> Result<(), CliError> {
    const OP: &str = "DeleteAccessKey";
    let found = find_entry(doc, "access_keys", id, user_name)
        .ok_or_else(|| no_such_key("Access Key", id, OP))?;
    edit_entry(doc, "access_keys", &found, OP, None)?;
    doc.save()
}

/// `list-access-keys [--user-name N]`. `CreateDate` only for keys with a
/// `created` time (keys written by hand have none).
pub fn list_access_keys(doc: &ConfigDocument, user_name: Option<&str>) -> Result<(), CliError> {
    let mut list = Vec::new();
    for user in selected_users(doc, user_name, "ListAccessKeys")? {
        let name = str_of(user, "name").unwrap_or_default();
        for key in entries(user, "access_keys") {
            list.push(output::AccessKeyMetadata {
                user_name: name.to_string(),
                access_key_id: str_of(key, "id").unwrap_or_default().to_string(),
                status: str_of(key, "status").unwrap_or("Active").to_string(),
                create_date: output::aws_time(str_of(key, "created")),
            });
        }
    }
    output::print_json(&output::one("AccessKeyMetadata", list));
    Ok(())
}

/// IAM's fingerprint of an SSH public key: MD5 of the key blob, as
/// colon-separated lowercase hex.
pub fn md5_fingerprint(body: &str) -> Option<String> {
    let blob = body.split_whitespace().nth(1)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    let digest = md5::compute(bytes);
    Some(
        digest
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// `upload-ssh-public-key --user-name N --ssh-public-key-body BODY`
/// (`file://PATH` reads the body from a file, as the AWS CLI does).
pub fn upload_ssh_public_key(
    doc: &mut ConfigDocument,
    name: &str,
    body: &str,
) -> Result<(), CliError> {
    const OP: &str = "UploadSSHPublicKey";
    let body = match body.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| CliError::Io(path.into(), e))?,
        None => body.to_string(),
    };
    let body = body.trim().to_string();
    let user = doc.user(name, OP)?;
    let user_name = str_of(user, "name").unwrap_or(name).to_string();
    let key = ssh::parse_public_key(&body).map_err(|m| {
        IamError::new(
            "InvalidPublicKey",
            OP,
            format!("The public key is not valid: {m}"),
        )
    })?;
    let fingerprint = md5_fingerprint(&body)
        .ok_or_else(|| IamError::new("InvalidPublicKey", OP, "The public key is not valid."))?;
    let duplicate = doc.users().into_iter().any(|u| {
        entries(u, "ssh_keys").iter().any(|k| {
            str_of(*k, "public_key")
                .and_then(|p| ssh::parse_public_key(p).ok())
                .is_some_and(|p| p.key_data() == key.key_data())
        })
    });
    if duplicate {
        return Err(IamError::new(
            "DuplicateSSHPublicKey",
            OP,
            "The public key is already associated with a user.",
        )
        .into());
    }
    if entries(user, "ssh_keys").len() >= MAX_SSH_KEYS {
        return Err(IamError::new(
            "LimitExceeded",
            OP,
            format!("Cannot exceed quota for PublicKeysPerUser: {MAX_SSH_KEYS}"),
        )
        .into());
    }
    let id = random_id("APKA", 16);
    let uploaded = output::now_rfc3339();
    let table = doc.user_mut(name, OP)?;
    push(
        table,
        "ssh_keys",
        inline(&[
            ("id", &id),
            ("public_key", &body),
            ("status", "Active"),
            ("uploaded", &uploaded),
        ]),
        false,
    );
    doc.save()?;
    output::print_json(&output::one(
        "SSHPublicKey",
        output::SshPublicKey {
            user_name,
            ssh_public_key_id: id,
            fingerprint,
            ssh_public_key_body: body,
            status: "Active",
            upload_date: output::aws_time(Some(&uploaded)).unwrap_or_default(),
        },
    ));
    Ok(())
}

/// `update-ssh-public-key --user-name N --ssh-public-key-id ID --status S`.
pub fn update_ssh_public_key(
    doc: &mut ConfigDocument,
    name: &str,
    id: &str,
    status: Status,
) -> Result<(), CliError> {
    const OP: &str = "UpdateSSHPublicKey";
    doc.user(name, OP)?;
    let found = find_entry(doc, "ssh_keys", id, Some(name))
        .ok_or_else(|| no_such_key("Public Key", id, OP))?;
    edit_entry(
        doc,
        "ssh_keys",
        &found,
        OP,
        Some(&|e| set_str(e, "status", status.as_str())),
    )?;
    doc.save()
}

/// `delete-ssh-public-key --user-name N --ssh-public-key-id ID`.
pub fn delete_ssh_public_key(
    doc: &mut ConfigDocument,
    name: &str,
    id: &str,
) -> Result<(), CliError> {
    const OP: &str = "DeleteSSHPublicKey";
    doc.user(name, OP)?;
    let found = find_entry(doc, "ssh_keys", id, Some(name))
        .ok_or_else(|| no_such_key("Public Key", id, OP))?;
    edit_entry(doc, "ssh_keys", &found, OP, None)?;
    doc.save()
}

/// `list-ssh-public-keys [--user-name N]`.
pub fn list_ssh_public_keys(doc: &ConfigDocument, user_name: Option<&str>) -> Result<(), CliError> {
    let mut list = Vec::new();
    for user in selected_users(doc, user_name, "ListSSHPublicKeys")? {
        let name = str_of(user, "name").unwrap_or_default();
        for key in entries(user, "ssh_keys") {
            list.push(output::SshPublicKeyMetadata {
                user_name: name.to_string(),
                ssh_public_key_id: str_of(key, "id").unwrap_or_default().to_string(),
                status: str_of(key, "status").unwrap_or("Active").to_string(),
                upload_date: output::aws_time(str_of(key, "uploaded")),
            });
        }
    }
    output::print_json(&output::one("SSHPublicKeys", list));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_md5_of_the_blob_in_colon_hex() {
        // The key blob "AAAA" decodes to [0, 0, 0]; md5 of 3 zero bytes.
        let fp = md5_fingerprint("ssh-ed25519 AAAA").unwrap();
        assert_eq!(fp, "69:3e:9a:f8:4d:3d:fc:c7:1e:64:0e:00:5b:dc:5e:2e");
        assert_eq!(fp.len(), 47);
        assert!(md5_fingerprint("ssh-ed25519").is_none());
    }
}
