//! HTTPS Git credentials, IAM's service-specific credentials for
//! CodeCommit: create, update, reset, delete, list. The configuration gets
//! `{ id, password_hash = "sha256:...", status, created }`; the password
//! is printed once (create, reset) and never stored.

use super::document::{ConfigDocument, entries, inline, push, set_str, str_of};
use super::output::{self, CliError, IamError};
use super::{Status, edit_entry, find_entry, selected_users};
use crate::shared::config::git_credential::{
    self, MAX_PER_USER, SERVICE_NAME, generate_id, generate_password, hash_password,
};

const KEY: &str = "git_credentials";

fn no_such_credential(id: &str, operation: &'static str) -> IamError {
    IamError::new(
        "NoSuchEntity",
        operation,
        format!("No such credential {id} exists"),
    )
}

fn print_credential(
    account: &str,
    user_name: &str,
    id: String,
    password: String,
    status: String,
    created: Option<&str>,
) {
    output::print_json(&output::one(
        "ServiceSpecificCredential",
        output::ServiceSpecificCredential {
            create_date: output::aws_time(created),
            service_name: SERVICE_NAME,
            service_user_name: git_credential::service_user_name(user_name, account),
            service_password: password,
            service_specific_credential_id: id,
            user_name: user_name.to_string(),
            status,
        },
    ));
}

/// `create-service-specific-credential --user-name N --service-name
/// codecommit.amazonaws.com`.
pub fn create(doc: &mut ConfigDocument, name: &str, service: &str) -> Result<(), CliError> {
    const OP: &str = "CreateServiceSpecificCredential";
    if service != SERVICE_NAME {
        return Err(IamError::new(
            "NotSupportedService",
            OP,
            format!("Service {service} is not supported (only {SERVICE_NAME})."),
        )
        .into());
    }
    let user = doc.user(name, OP)?;
    let user_name = str_of(user, "name").unwrap_or(name).to_string();
    if entries(user, KEY).len() >= MAX_PER_USER {
        return Err(IamError::new(
            "LimitExceeded",
            OP,
            format!("Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: {MAX_PER_USER}"),
        )
        .into());
    }
    let id = generate_id();
    let password = generate_password();
    let created = output::now_rfc3339();
    let table = doc.user_mut(name, OP)?;
    push(
        table,
        KEY,
        inline(&[
            ("id", &id),
            ("password_hash", &hash_password(&password)),
            ("status", "Active"),
            ("created", &created),
        ]),
        false,
    );
    doc.save()?;
    print_credential(
        &doc.account,
        &user_name,
        id,
        password,
        "Active".into(),
        Some(&created),
    );
    Ok(())
}

/// `update-service-specific-credential --service-specific-credential-id ID
/// --status S [--user-name N]`.
pub fn update(
    doc: &mut ConfigDocument,
    id: &str,
    status: Status,
    user_name: Option<&str>,
) -> Result<(), CliError> {
    const OP: &str = "UpdateServiceSpecificCredential";
    let found = find_entry(doc, KEY, id, user_name).ok_or_else(|| no_such_credential(id, OP))?;
    edit_entry(
        doc,
        KEY,
        &found,
        OP,
        Some(&|e| set_str(e, "status", status.as_str())),
    )?;
    doc.save()
}

/// `reset-service-specific-credential --service-specific-credential-id ID
/// [--user-name N]`: a new password, printed once.
pub fn reset(doc: &mut ConfigDocument, id: &str, user_name: Option<&str>) -> Result<(), CliError> {
    const OP: &str = "ResetServiceSpecificCredential";
    let found = find_entry(doc, KEY, id, user_name).ok_or_else(|| no_such_credential(id, OP))?;
    let password = generate_password();
    let hash = hash_password(&password);
    edit_entry(
        doc,
        KEY,
        &found,
        OP,
        Some(&|e| set_str(e, "password_hash", &hash)),
    )?;
    doc.save()?;
    let user = doc.user(&found.user, OP)?;
    let entry = entries(user, KEY).into_iter().nth(found.index);
    let status = entry
        .and_then(|e| str_of(e, "status"))
        .unwrap_or("Active")
        .to_string();
    let created = entry.and_then(|e| str_of(e, "created")).map(str::to_string);
    print_credential(
        &doc.account,
        &found.user,
        id.to_string(),
        password,
        status,
        created.as_deref(),
    );
    Ok(())
}

/// `delete-service-specific-credential --service-specific-credential-id ID
/// [--user-name N]`.
pub fn delete(doc: &mut ConfigDocument, id: &str, user_name: Option<&str>) -> Result<(), CliError> {
    const OP: &str = "DeleteServiceSpecificCredential";
    let found = find_entry(doc, KEY, id, user_name).ok_or_else(|| no_such_credential(id, OP))?;
    edit_entry(doc, KEY, &found, OP, None)?;
    doc.save()
}

/// `list-service-specific-credentials [--user-name N] [--service-name S]`.
pub fn list(
    doc: &ConfigDocument,
    user_name: Option<&str>,
    service: Option<&str>,
) -> Result<(), CliError> {
    let mut list = Vec::new();
    if service.is_none_or(|s| s == SERVICE_NAME) {
        for user in selected_users(doc, user_name, "ListServiceSpecificCredentials")? {
            let name = str_of(user, "name").unwrap_or_default();
            for c in entries(user, KEY) {
                list.push(output::ServiceSpecificCredentialMetadata {
                    user_name: name.to_string(),
                    status: str_of(c, "status").unwrap_or("Active").to_string(),
                    service_user_name: git_credential::service_user_name(name, &doc.account),
                    create_date: output::aws_time(str_of(c, "created")),
                    service_specific_credential_id: str_of(c, "id").unwrap_or_default().to_string(),
                    service_name: SERVICE_NAME,
                });
            }
        }
    }
    output::print_json(&output::one("ServiceSpecificCredentials", list));
    Ok(())
}
