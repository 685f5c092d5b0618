//! Users and groups: create-user, delete-user, list-users, create-group,
//! add-user-to-group, remove-user-from-group.

use toml_edit::{Array, Item, Value};

use super::document::{ConfigDocument, List, entries, inline, push, str_of};
use super::output::{self, CliError, IamError};
use crate::shared::config::unique_id;

fn user_json(account: &str, name: &str, create_date: Option<String>) -> output::User {
    output::User {
        path: "/",
        user_name: name.to_string(),
        user_id: unique_id("AIDA", "user", account, name),
        arn: format!("arn:aws:iam::{account}:user/{name}"),
        create_date,
    }
}

/// `create-user --user-name N`.
pub fn create_user(doc: &mut ConfigDocument, name: &str) -> Result<(), CliError> {
    const OP: &str = "CreateUser";
    if doc.user(name, OP).is_ok() {
        return Err(IamError::new(
            "EntityAlreadyExists",
            OP,
            format!("User with name {name} already exists."),
        )
        .into());
    }
    let account = doc.account.clone();
    let Some(table) = doc.account_mut() else {
        return Err(CliError::Account(format!("account {account} not found")));
    };
    push(table, "users", inline(&[("name", name)]), true);
    doc.save()?;
    let user = user_json(
        &account,
        name,
        output::aws_time(Some(&output::now_rfc3339())),
    );
    output::print_json(&output::one("User", user));
    Ok(())
}

/// `delete-user --user-name N`: refused while the user has access keys,
/// SSH keys or Git credentials (as IAM refuses).
pub fn delete_user(doc: &mut ConfigDocument, name: &str) -> Result<(), CliError> {
    const OP: &str = "DeleteUser";
    let user = doc.user(name, OP)?;
    for (key, what) in [
        ("access_keys", "access keys"),
        ("ssh_keys", "SSH public keys"),
        ("git_credentials", "service-specific credentials"),
    ] {
        if !entries(user, key).is_empty() {
            return Err(IamError::new(
                "DeleteConflict",
                OP,
                format!("Cannot delete entity, must delete {what} first."),
            )
            .into());
        }
    }
    let account = doc.account.clone();
    let removed = doc
        .account_mut()
        .and_then(|a| a.get_mut("users"))
        .and_then(List::of)
        .and_then(|mut list| {
            let i =
                list.position(|u| str_of(u, "name").is_some_and(|n| n.eq_ignore_ascii_case(name)))?;
            list.remove(i);
            Some(())
        });
    if removed.is_none() {
        return Err(CliError::Account(format!(
            "account {account} changed while editing"
        )));
    }
    doc.save()
}

/// `list-users`.
pub fn list_users(doc: &ConfigDocument) -> Result<(), CliError> {
    let users: Vec<output::User> = doc
        .users()
        .into_iter()
        .filter_map(|u| str_of(u, "name"))
        .map(|n| user_json(&doc.account, n, None))
        .collect();
    output::print_json(&output::one("Users", users));
    Ok(())
}

/// The group `name` as the file spells it (IAM names are
/// case-insensitive; the loader wants a user's `groups` spelled as defined).
fn group_named(doc: &ConfigDocument, name: &str) -> Option<String> {
    doc.account()
        .map(|a| entries(a, "groups"))
        .unwrap_or_default()
        .iter()
        .filter_map(|g| str_of(*g, "name"))
        .find(|n| n.eq_ignore_ascii_case(name))
        .map(str::to_string)
}

/// Whether a user's `groups` entry `g` names `group`.
fn names(g: &Value, group: &str) -> bool {
    g.as_str().is_some_and(|n| n.eq_ignore_ascii_case(group))
}

/// `create-group --group-name G`.
pub fn create_group(doc: &mut ConfigDocument, name: &str) -> Result<(), CliError> {
    const OP: &str = "CreateGroup";
    if group_named(doc, name).is_some() {
        return Err(IamError::new(
            "EntityAlreadyExists",
            OP,
            format!("Group with name {name} already exists."),
        )
        .into());
    }
    let account = doc.account.clone();
    let Some(table) = doc.account_mut() else {
        return Err(CliError::Account(format!("account {account} not found")));
    };
    push(table, "groups", inline(&[("name", name)]), true);
    doc.save()?;
    let group = output::Group {
        path: "/",
        group_name: name.to_string(),
        group_id: unique_id("AGPA", "group", &account, name),
        arn: format!("arn:aws:iam::{account}:group/{name}"),
        create_date: output::aws_time(Some(&output::now_rfc3339())).unwrap_or_default(),
    };
    output::print_json(&output::one("Group", group));
    Ok(())
}

fn no_such_group(name: &str, operation: &'static str) -> IamError {
    IamError::new(
        "NoSuchEntity",
        operation,
        format!("The group with name {name} cannot be found."),
    )
}

/// `add-user-to-group`: idempotent, as in IAM.
pub fn add_user_to_group(
    doc: &mut ConfigDocument,
    group: &str,
    user: &str,
) -> Result<(), CliError> {
    const OP: &str = "AddUserToGroup";
    let Some(group) = group_named(doc, group) else {
        return Err(no_such_group(group, OP).into());
    };
    let table = doc.user_mut(user, OP)?;
    match table.get_mut("groups") {
        Some(Item::Value(Value::Array(a))) => {
            if !a.iter().any(|g| names(g, &group)) {
                a.push(group);
            }
        }
        _ => {
            let mut a = Array::new();
            a.push(group);
            table.insert("groups", Item::Value(Value::Array(a)));
        }
    }
    doc.save()
}

/// `remove-user-from-group`.
pub fn remove_user_from_group(
    doc: &mut ConfigDocument,
    group: &str,
    user: &str,
) -> Result<(), CliError> {
    const OP: &str = "RemoveUserFromGroup";
    if group_named(doc, group).is_none() {
        return Err(no_such_group(group, OP).into());
    }
    let table = doc.user_mut(user, OP)?;
    let removed = match table.get_mut("groups") {
        Some(Item::Value(Value::Array(a))) => {
            let position = a.iter().position(|g| names(g, group));
            match position {
                Some(i) => {
                    a.remove(i);
                    true
                }
                None => false,
            }
        }
        _ => false,
    };
    if !removed {
        return Err(IamError::new(
            "NoSuchEntity",
            OP,
            format!("The user with name {user} is not in group {group}."),
        )
        .into());
    }
    doc.save()
}
