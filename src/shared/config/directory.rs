//! The validated identity model: accounts, users, groups' policies folded
//! into users, roles, access keys. Built whole by [`super::load`] and
//! swapped whole on reload, so a reader never sees half a configuration.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::shared::config::sts::OidcProvider;
use crate::shared::policy::Policy;

use super::Secret;

/// Every principal the server knows, indexed for the request path.
#[derive(Default)]
pub struct Directory {
    pub(super) accounts: BTreeMap<String, Account>,
    pub(super) keys: HashMap<String, AccessKey>,
    pub(super) roles_by_arn: HashMap<String, Arc<Role>>,
    pub(super) ssh_keys: HashMap<String, super::ssh::SshKey>,
    pub(super) ssh_cas: Vec<super::ssh::SshCertificateAuthority>,
    /// Git credentials by service user name (`NAME-at-ACCOUNT`).
    pub(super) git_credentials: HashMap<String, Vec<super::git_credential::GitCredential>>,
}

/// One `[[accounts]]` entry.
#[derive(Default)]
pub struct Account {
    pub(super) id: String,
    pub(super) users: BTreeMap<String, Arc<User>>,
    pub(super) roles: BTreeMap<String, Arc<Role>>,
    pub(super) oidc_providers: Vec<OidcProvider>,
}

/// An IAM user with every identity policy that applies to it (its own, then
/// its groups', in configuration order).
pub struct User {
    /// 12-digit account id.
    pub account: String,
    /// User name (unique per account, as in IAM, case-insensitively).
    pub name: String,
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub arn: String,
    /// Stable unique id (`AIDA...`), derived from account and name so that
    /// every replica computes the same one.
    pub user_id: String,
    /// Names of the groups the user belongs to.
    pub groups: Vec<String>,
    /// Principal tags (`aws:PrincipalTag/KEY`).
    pub tags: BTreeMap<String, String>,
    /// Own policies, then the groups' policies.
    pub policies: Vec<Arc<Policy>>,
}

/// An IAM role, assumable through STS.
pub struct Role {
    /// 12-digit account id.
    pub account: String,
    /// Role name.
    pub name: String,
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub arn: String,
    /// Stable unique id (`AROA...`).
    pub role_id: String,
    /// The resource-based policy saying who may assume the role.
    pub trust_policy: Arc<Policy>,
    /// Identity policies of sessions of this role.
    pub policies: Vec<Arc<Policy>>,
    /// Longest session in seconds (3600 to 43200; default 3600).
    pub max_session_duration: u64,
    /// Role tags (principal tags of its sessions unless a session tag
    /// overrides them).
    pub tags: BTreeMap<String, String>,
}

/// A long-term access key.
pub(super) struct AccessKey {
    pub(super) user: Arc<User>,
    pub(super) secret: Secret,
    pub(super) active: bool,
}

impl Directory {
    /// The user owning the active long-term access key `id`, and its secret.
    /// Inactive and unknown keys are both `None`.
    pub fn access_key(&self, id: &str) -> Option<(Arc<User>, &Secret)> {
        let key = self.keys.get(id)?;
        if !key.active {
            return None;
        }
        Some((Arc::clone(&key.user), &key.secret))
    }

    /// The SSH key `id` (`APKA...`), active or not.
    pub fn ssh_key(&self, id: &str) -> Option<&super::ssh::SshKey> {
        self.ssh_keys.get(id)
    }

    /// Every SSH key (active or not), in no particular order.
    pub fn ssh_keys(&self) -> impl Iterator<Item = &super::ssh::SshKey> {
        self.ssh_keys.values()
    }

    /// The SSH certificate authority whose key is `key`, if any account
    /// trusts it.
    pub fn ssh_certificate_authority(
        &self,
        key: &russh::keys::ssh_key::public::KeyData,
    ) -> Option<&super::ssh::SshCertificateAuthority> {
        self.ssh_cas.iter().find(|c| c.public_key.key_data() == key)
    }

    /// True when some account trusts an SSH certificate authority.
    pub fn has_ssh_certificate_authorities(&self) -> bool {
        !self.ssh_cas.is_empty()
    }

    /// Number of SSH public keys (active or not).
    pub fn ssh_key_count(&self) -> usize {
        self.ssh_keys.len()
    }

    /// The user `name` of `account`.
    pub fn user(&self, account: &str, name: &str) -> Option<Arc<User>> {
        self.accounts.get(account)?.users.get(name).cloned()
    }

    /// The role `name` of `account`.
    pub fn role(&self, account: &str, name: &str) -> Option<Arc<Role>> {
        self.accounts.get(account)?.roles.get(name).cloned()
    }

    /// The role whose ARN is exactly `arn`.
    pub fn role_by_arn(&self, arn: &str) -> Option<Arc<Role>> {
        self.roles_by_arn.get(arn).cloned()
    }

    /// The OIDC identity providers of `account` (empty for unknown accounts).
    pub fn oidc_providers(&self, account: &str) -> &[OidcProvider] {
        self.accounts
            .get(account)
            .map_or(&[], |a| a.oidc_providers.as_slice())
    }

    /// True when `id` is a configured account.
    pub fn has_account(&self, id: &str) -> bool {
        self.accounts.contains_key(id)
    }

    /// Configured account ids, sorted.
    pub fn account_ids(&self) -> impl Iterator<Item = &str> {
        self.accounts.keys().map(String::as_str)
    }

    /// Every user of every account.
    pub fn users(&self) -> impl Iterator<Item = &Arc<User>> {
        self.accounts.values().flat_map(|a| a.users.values())
    }

    /// Every role of every account, by account then name.
    pub fn roles(&self) -> impl Iterator<Item = &Arc<Role>> {
        self.accounts.values().flat_map(|a| a.roles.values())
    }

    /// Number of long-term access keys (active or not).
    pub fn access_key_count(&self) -> usize {
        self.keys.len()
    }
}

impl Account {
    /// The 12-digit account id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("accounts", &self.accounts.keys().collect::<Vec<_>>())
            .field("users", &self.users().map(|u| &u.arn).collect::<Vec<_>>())
            .field("roles", &self.roles_by_arn.keys().collect::<Vec<_>>())
            .field("access_keys", &self.keys.len())
            .finish()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("arn", &self.arn)
            .field("user_id", &self.user_id)
            .field("groups", &self.groups)
            .field("tags", &self.tags)
            .field("policies", &self.policies.len())
            .finish()
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Role")
            .field("arn", &self.arn)
            .field("role_id", &self.role_id)
            .field("policies", &self.policies.len())
            .field("max_session_duration", &self.max_session_duration)
            .field("tags", &self.tags)
            .finish()
    }
}

/// A stable IAM-style unique id: `prefix` + 17 base32 characters of a hash of
/// the kind, account and name.
pub fn unique_id(prefix: &str, kind: &str, account: &str, name: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [kind, account, name] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut first = [0u8; 16];
    for (slot, byte) in first.iter_mut().zip(digest.iter()) {
        *slot = *byte;
    }
    let bits = u128::from_be_bytes(first);
    let mut out = String::from(prefix);
    // 17 characters of 5 bits each: the top 85 bits of the digest.
    for i in 0..17u32 {
        let idx = ((bits >> (123 - 5 * i)) & 31) as usize;
        out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_are_stable_and_distinct() {
        let a = unique_id("AIDA", "user", "111122223333", "alice");
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AIDA"));
        assert_eq!(a, unique_id("AIDA", "user", "111122223333", "alice"));
        assert_ne!(a, unique_id("AIDA", "user", "111122223333", "bob"));
        assert_ne!(a, unique_id("AIDA", "user", "444455556666", "alice"));
    }
}
