//! `gitiam iam ...`: administration with AWS's verbs. Each subcommand edits
//! `gitiam.toml` in place as `aws iam` would change IAM: comments and layout
//! kept ([`document`], a format-preserving TOML editor), the new text
//! checked with the server's own loader before it atomically replaces the
//! file (mode, owner and group kept; one edit at a time, under a lock), the
//! AWS CLI's JSON printed ([`output`]). A running
//! server picks the change up with its usual reload.
//!
//! [`users`]: users and groups; [`keys`]: access keys and SSH public keys;
//! [`credentials`]: HTTPS Git credentials (service-specific credentials).

mod credentials;
mod document;
mod keys;
pub mod output;
mod users;

use std::path::PathBuf;

use document::ConfigDocument;
use output::CliError;

/// `gitiam iam [--config FILE] [--account-id ID] COMMAND`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file to edit.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        default_value = "gitiam.toml",
        global = true
    )]
    pub config: PathBuf,
    /// The account, when the configuration has several.
    #[arg(long, value_name = "ID", global = true)]
    pub account_id: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// `Active` or `Inactive`, spelled as IAM spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Status {
    /// Authenticates.
    #[value(name = "Active")]
    Active,
    /// Kept, but authenticates nobody.
    #[value(name = "Inactive")]
    Inactive,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::Inactive => "Inactive",
        }
    }
}

/// The subcommands, named and flagged as in `aws iam`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a user (`[[accounts.users]]`).
    CreateUser {
        #[arg(long)]
        user_name: String,
    },
    /// Remove a user that has no access keys, SSH keys or Git credentials.
    DeleteUser {
        #[arg(long)]
        user_name: String,
    },
    /// List the account's users.
    ListUsers,
    /// Add a group (`[[accounts.groups]]`).
    CreateGroup {
        #[arg(long)]
        group_name: String,
    },
    /// Add a user to a group.
    AddUserToGroup {
        #[arg(long)]
        group_name: String,
        #[arg(long)]
        user_name: String,
    },
    /// Remove a user from a group.
    RemoveUserFromGroup {
        #[arg(long)]
        group_name: String,
        #[arg(long)]
        user_name: String,
    },
    /// Make an access key (at most 2 per user); prints its secret, once.
    CreateAccessKey {
        #[arg(long)]
        user_name: String,
    },
    /// Activate or deactivate an access key.
    UpdateAccessKey {
        #[arg(long)]
        access_key_id: String,
        #[arg(long, value_enum)]
        status: Status,
        #[arg(long)]
        user_name: Option<String>,
    },
    /// Remove an access key.
    DeleteAccessKey {
        #[arg(long)]
        access_key_id: String,
        #[arg(long)]
        user_name: Option<String>,
    },
    /// List access keys (never their secrets): a user's, or every user's.
    ListAccessKeys {
        #[arg(long)]
        user_name: Option<String>,
    },
    /// Add an SSH public key (`ssh-ed25519 AAAA...` or `file://PATH`).
    #[command(name = "upload-ssh-public-key")]
    UploadSshPublicKey {
        #[arg(long)]
        user_name: String,
        #[arg(long = "ssh-public-key-body")]
        ssh_public_key_body: String,
    },
    /// Activate or deactivate an SSH public key.
    #[command(name = "update-ssh-public-key")]
    UpdateSshPublicKey {
        #[arg(long)]
        user_name: String,
        #[arg(long = "ssh-public-key-id")]
        ssh_public_key_id: String,
        #[arg(long, value_enum)]
        status: Status,
    },
    /// Remove an SSH public key.
    #[command(name = "delete-ssh-public-key")]
    DeleteSshPublicKey {
        #[arg(long)]
        user_name: String,
        #[arg(long = "ssh-public-key-id")]
        ssh_public_key_id: String,
    },
    /// List SSH public keys: a user's, or every user's.
    #[command(name = "list-ssh-public-keys")]
    ListSshPublicKeys {
        #[arg(long)]
        user_name: Option<String>,
    },
    /// Make an HTTPS Git credential (at most 2 per user); prints its
    /// password, once.
    CreateServiceSpecificCredential {
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        service_name: String,
    },
    /// Activate or deactivate a Git credential.
    UpdateServiceSpecificCredential {
        #[arg(long)]
        service_specific_credential_id: String,
        #[arg(long, value_enum)]
        status: Status,
        #[arg(long)]
        user_name: Option<String>,
    },
    /// Give a Git credential a new password; prints it, once.
    ResetServiceSpecificCredential {
        #[arg(long)]
        service_specific_credential_id: String,
        #[arg(long)]
        user_name: Option<String>,
    },
    /// Remove a Git credential.
    DeleteServiceSpecificCredential {
        #[arg(long)]
        service_specific_credential_id: String,
        #[arg(long)]
        user_name: Option<String>,
    },
    /// List Git credentials (never passwords): a user's, or every user's.
    ListServiceSpecificCredentials {
        #[arg(long)]
        user_name: Option<String>,
        #[arg(long)]
        service_name: Option<String>,
    },
}

/// Runs the command; errors go to standard error as the AWS CLI prints
/// them, with a non-zero status.
pub fn run(args: Args) -> anyhow::Result<u8> {
    match execute(&args) {
        Ok(()) => Ok(0),
        Err(CliError::Iam(e)) => {
            eprintln!("\n{e}");
            Ok(crate::cli::EXIT_FAILURE)
        }
        Err(e) => {
            eprintln!("gitiam iam: {e}");
            Ok(crate::cli::EXIT_FAILURE)
        }
    }
}

fn execute(args: &Args) -> Result<(), CliError> {
    let access = match args.command {
        Command::ListUsers
        | Command::ListAccessKeys { .. }
        | Command::ListSshPublicKeys { .. }
        | Command::ListServiceSpecificCredentials { .. } => document::Access::Read,
        _ => document::Access::Write,
    };
    let mut doc = ConfigDocument::open(&args.config, args.account_id.as_deref(), access)?;
    match &args.command {
        Command::CreateUser { user_name } => users::create_user(&mut doc, user_name),
        Command::DeleteUser { user_name } => users::delete_user(&mut doc, user_name),
        Command::ListUsers => users::list_users(&doc),
        Command::CreateGroup { group_name } => users::create_group(&mut doc, group_name),
        Command::AddUserToGroup {
            group_name,
            user_name,
        } => users::add_user_to_group(&mut doc, group_name, user_name),
        Command::RemoveUserFromGroup {
            group_name,
            user_name,
        } => users::remove_user_from_group(&mut doc, group_name, user_name),
        Command::CreateAccessKey { user_name } => keys::create_access_key(&mut doc, user_name),
        Command::UpdateAccessKey {
            access_key_id,
            status,
            user_name,
        } => keys::update_access_key(&mut doc, access_key_id, *status, user_name.as_deref()),
        Command::DeleteAccessKey {
            access_key_id,
            user_name,
        } => keys::delete_access_key(&mut doc, access_key_id, user_name.as_deref()),
        Command::ListAccessKeys { user_name } => keys::list_access_keys(&doc, user_name.as_deref()),
        Command::UploadSshPublicKey {
            user_name,
            ssh_public_key_body,
        } => keys::upload_ssh_public_key(&mut doc, user_name, ssh_public_key_body),
        Command::UpdateSshPublicKey {
            user_name,
            ssh_public_key_id,
            status,
        } => keys::update_ssh_public_key(&mut doc, user_name, ssh_public_key_id, *status),
        Command::DeleteSshPublicKey {
            user_name,
            ssh_public_key_id,
        } => keys::delete_ssh_public_key(&mut doc, user_name, ssh_public_key_id),
        Command::ListSshPublicKeys { user_name } => {
            keys::list_ssh_public_keys(&doc, user_name.as_deref())
        }
        Command::CreateServiceSpecificCredential {
            user_name,
            service_name,
        } => credentials::create(&mut doc, user_name, service_name),
        Command::UpdateServiceSpecificCredential {
            service_specific_credential_id,
            status,
            user_name,
        } => credentials::update(
            &mut doc,
            service_specific_credential_id,
            *status,
            user_name.as_deref(),
        ),
        Command::ResetServiceSpecificCredential {
            service_specific_credential_id,
            user_name,
        } => credentials::reset(
            &mut doc,
            service_specific_credential_id,
            user_name.as_deref(),
        ),
        Command::DeleteServiceSpecificCredential {
            service_specific_credential_id,
            user_name,
        } => credentials::delete(
            &mut doc,
            service_specific_credential_id,
            user_name.as_deref(),
        ),
        Command::ListServiceSpecificCredentials {
            user_name,
            service_name,
        } => credentials::list(&doc, user_name.as_deref(), service_name.as_deref()),
    }
}

/// A user's entry in a list (`access_keys`, ...): which user, which index.
struct Found {
    user: String,
    index: usize,
}

/// Finds the entry with `id` in list `key` of the account's users (of
/// `user_name` only when given).
fn find_entry(doc: &ConfigDocument, key: &str, id: &str, user_name: Option<&str>) -> Option<Found> {
    doc.users().into_iter().find_map(|u| {
        let name = document::str_of(u, "name")?;
        if user_name.is_some_and(|n| !n.eq_ignore_ascii_case(name)) {
            return None;
        }
        let index = document::entries(u, key)
            .iter()
            .position(|e| document::str_of(*e, "id") == Some(id))?;
        Some(Found {
            user: name.to_string(),
            index,
        })
    })
}

/// A change to one entry of a user's list (a key, a credential).
type EntryEdit<'a> = dyn Fn(&mut dyn toml_edit::TableLike) + 'a;

/// Runs `edit` on entry `found` of list `key`, or removes it when `edit`
/// is `None`.
fn edit_entry(
    doc: &mut ConfigDocument,
    key: &str,
    found: &Found,
    operation: &'static str,
    edit: Option<&EntryEdit<'_>>,
) -> Result<(), CliError> {
    let user = doc.user_mut(&found.user, operation)?;
    let Some(mut list) = user.get_mut(key).and_then(document::List::of) else {
        return Err(IamErrorMissing::entry(operation).into());
    };
    match edit {
        None => list.remove(found.index),
        Some(edit) => {
            let entry = list
                .into_entry(found.index)
                .ok_or_else(|| IamErrorMissing::entry(operation))?;
            edit(entry);
        }
    }
    Ok(())
}

/// The entry vanished between finding and editing (cannot happen with one
/// document; reported rather than panicking).
struct IamErrorMissing;

impl IamErrorMissing {
    fn entry(operation: &'static str) -> output::IamError {
        output::IamError::new("NoSuchEntity", operation, "The entry cannot be found.")
    }
}

/// The users named by an optional `--user-name`: that one (or
/// `NoSuchEntity`) or all.
fn selected_users<'a>(
    doc: &'a ConfigDocument,
    user_name: Option<&str>,
    operation: &'static str,
) -> Result<Vec<&'a dyn toml_edit::TableLike>, CliError> {
    match user_name {
        Some(n) => Ok(vec![doc.user(n, operation)?]),
        None => Ok(doc.users()),
    }
}
