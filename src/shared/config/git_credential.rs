//! HTTPS Git credentials (IAM's "service-specific credentials" for
//! CodeCommit): a generated password that any Git tool can store, for the
//! service user name `NAME-at-ACCOUNTID`, as CodeCommit forms it.
//!
//! The configuration keeps only `sha256:<hex>` of each password. The
//! passwords are 264 random bits, not human choices: no dictionary exists to
//! resist, so a fast hash is as strong as a slow one here, and a slow
//! password hash on every Git request (git authenticates each of its HTTP
//! requests) would only give anyone who can send requests a lever to burn
//! the server's CPU. The hash is compared in constant time, and an unknown
//! service user name takes the same path as a wrong password.
//!
//! [`GitCredentialVerified`] is the proof the access core demands; only
//! [`Directory::verify_git_credential`] constructs it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore as _;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;
use toml::Spanned;

use super::raw::RawGitCredential;
use super::{ConfigError, Directory, Loader, User};

/// The only service these credentials are for.
pub const SERVICE_NAME: &str = "codecommit.amazonaws.com";
/// Git credentials a user may have, as in IAM.
pub const MAX_PER_USER: usize = 2;
/// Id prefix of service-specific credentials in IAM.
pub const ID_PREFIX: &str = "ACCA";
/// What separates the user name from the account id in a service user name.
const SEPARATOR: &str = "-at-";
/// Prefix of a stored password hash.
const HASH_PREFIX: &str = "sha256:";

/// One configured Git credential.
pub struct GitCredential {
    /// `ACCA...`.
    pub id: String,
    /// The owner.
    pub user: Arc<User>,
    /// SHA-256 of the password.
    hash: [u8; 32],
    /// `status = "Inactive"` credentials authenticate nobody.
    pub active: bool,
}

impl std::fmt::Debug for GitCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredential")
            .field("id", &self.id)
            .field("user", &self.user.arn)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Proof that a Git credential's password was checked. The field is
/// private, so only [`Directory::verify_git_credential`] makes one.
#[derive(Debug)]
#[must_use = "a verified credential is only useful when authorization demands it"]
pub struct GitCredentialVerified(());

/// A Git credential that did not authenticate. One answer for an unknown
/// service user name, a wrong password and an inactive credential, so
/// neither the client nor the audit log's reader learns which users exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Git credential: unknown service user name, or no active credential of it has this password"
)]
pub struct GitCredentialRejected;

/// `NAME-at-ACCOUNT`, the service user name of `user`.
pub fn service_user_name(user_name: &str, account: &str) -> String {
    format!("{user_name}{SEPARATOR}{account}")
}

/// True when a Basic user name is a service user name (`...-at-` and 12
/// digits). Access key ids are alphanumeric, so they never are.
pub fn is_service_user_name(name: &str) -> bool {
    name.rsplit_once(SEPARATOR).is_some_and(|(user, account)| {
        !user.is_empty() && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `sha256:<lowercase hex>` of `password`, as stored in the configuration.
pub fn hash_password(password: &str) -> String {
    format!(
        "{HASH_PREFIX}{}",
        hex::encode(sha2::Sha256::digest(password.as_bytes()))
    )
}

/// A new password: 33 bytes from the thread's CSPRNG, base64 (44
/// characters, like CodeCommit's).
pub fn generate_password() -> String {
    let mut bytes = [0u8; 33];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A new credential id: `ACCA` and 17 uppercase letters and digits.
pub fn generate_id() -> String {
    random_id(ID_PREFIX, 17)
}

/// `prefix` and `len` random uppercase letters and digits (IAM's id
/// alphabet).
pub fn random_id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let mut out = String::from(prefix);
    while out.len() < prefix.len() + len {
        // Rejection sampling keeps every character equally likely.
        let b = (rng.next_u32() & 0x3f) as usize;
        if let Some(c) = ALPHABET.get(b) {
            out.push(char::from(*c));
        }
    }
    out
}

/// True for a credential id: `ACCA` and 16-124 uppercase letters or digits.
pub fn valid_id(id: &str) -> bool {
    id.starts_with(ID_PREFIX)
        && (20..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex_part = text.strip_prefix(HASH_PREFIX)?;
    if hex_part.len() != 64 || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// Compared against when the service user name is unknown or has fewer
/// than [`MAX_PER_USER`] credentials, so every check does the same work.
const NO_HASH: [u8; 32] = [0u8; 32];

impl Directory {
    /// Checks `password` for the service user name `service_user_name`:
    /// the user, the id of the credential that matched, and the proof.
    pub fn verify_git_credential(
        &self,
        service_user_name: &str,
        password: &str,
    ) -> Result<(Arc<User>, String, GitCredentialVerified), GitCredentialRejected> {
        let digest: [u8; 32] = sha2::Sha256::digest(password.as_bytes()).into();
        let credentials = self
            .git_credentials
            .get(service_user_name)
            .map_or(&[][..], Vec::as_slice);
        let mut matched = None;
        for slot in 0..MAX_PER_USER {
            let credential = credentials.get(slot);
            let (hash, active) = credential.map_or((&NO_HASH, false), |c| (&c.hash, c.active));
            let equal = hash.ct_eq(&digest) & subtle::Choice::from(u8::from(active));
            if bool::from(equal) {
                matched = credential;
            }
        }
        let credential = matched.ok_or(GitCredentialRejected)?;
        Ok((
            Arc::clone(&credential.user),
            credential.id.clone(),
            GitCredentialVerified(()),
        ))
    }

    /// Number of Git credentials (active or not).
    pub fn git_credential_count(&self) -> usize {
        self.git_credentials.values().map(Vec::len).sum()
    }
}

impl Loader<'_> {
    /// Validates `user`'s `git_credentials` and indexes them by service
    /// user name; `ids` holds every credential id seen so far.
    pub(super) fn git_credentials(
        &self,
        raw: &[Spanned<RawGitCredential>],
        user: &Arc<User>,
        index: &mut HashMap<String, Vec<GitCredential>>,
        ids: &mut BTreeSet<String>,
    ) -> Result<(), ConfigError> {
        let mut list = Vec::new();
        for entry in raw {
            let c = entry.get_ref();
            let id = c.id.get_ref();
            if !valid_id(id) {
                return Err(self.err(
                    &c.id,
                    format!("Git credential id `{id}` must be ACCA followed by uppercase letters and digits (20-128 characters)"),
                ));
            }
            if !ids.insert(id.clone()) {
                return Err(self.err(&c.id, format!("Git credential {id} is defined twice")));
            }
            let hash = parse_hash(c.password_hash.get_ref()).ok_or_else(|| {
                self.err(
                    &c.password_hash,
                    format!("Git credential {id}: password_hash must be \"sha256:\" and 64 lowercase hex digits"),
                )
            })?;
            let active = self.status(&c.status, entry)?;
            self.timestamp(c.created.as_ref())?;
            if list.len() == MAX_PER_USER {
                return Err(self.err(
                    entry,
                    format!(
                        "user {} has more than {MAX_PER_USER} Git credentials",
                        user.name
                    ),
                ));
            }
            list.push(GitCredential {
                id: id.clone(),
                user: Arc::clone(user),
                hash,
                active,
            });
        }
        if !list.is_empty() {
            index.insert(service_user_name(&user.name, &user.account), list);
        }
        Ok(())
    }

    /// A `created`/`uploaded` time: RFC 3339 when present.
    pub(super) fn timestamp(&self, value: Option<&Spanned<String>>) -> Result<(), ConfigError> {
        let Some(v) = value else { return Ok(()) };
        time::OffsetDateTime::parse(v.get_ref(), &time::format_description::well_known::Rfc3339)
            .map(|_| ())
            .map_err(|_| {
                self.err(
                    v,
                    format!(
                        "`{}` is not an RFC 3339 time like 2026-12-03T10:00:00Z",
                        v.get_ref()
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_user_names() {
        assert_eq!(
            service_user_name("alice", "111122223333"),
            "alice-at-111122223333"
        );
        assert!(is_service_user_name("alice-at-111122223333"));
        assert!(is_service_user_name("bob-at-home-at-111122223333"));
        for not in [
            "AKIAEXAMPLE",
            "-at-111122223333",
            "alice-at-11112222333",
            "alice-at-11112222333x",
        ] {
            assert!(!is_service_user_name(not), "{not}");
        }
    }

    #[test]
    fn generated_values_have_their_shapes() {
        let p = generate_password();
        assert_eq!(p.len(), 44);
        assert_ne!(p, generate_password());
        let id = generate_id();
        assert_eq!(id.len(), 21);
        assert!(valid_id(&id), "{id}");
        let h = hash_password("pw");
        assert!(parse_hash(&h).is_some());
        assert!(parse_hash(&h.to_uppercase()).is_none());
        assert!(parse_hash("sha256:00").is_none());
        assert!(parse_hash(&h.replace("sha256", "md5")).is_none());
    }
}
