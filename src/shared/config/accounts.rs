//! `[[accounts]]`: users, groups, roles, access keys, SSH keys and Git
//! credentials, validated into the [`Directory`] the server looks callers
//! up in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use toml::Spanned;

use crate::shared::policy::Policy;

use super::directory::AccessKey;
use super::{
    Account, ConfigError, Directory, Loader, ROLE_SESSION_RANGE, Role, Secret, User, raw, ssh,
    unique_id,
};

impl Loader<'_> {
    pub(super) fn directory(
        &mut self,
        accounts: Vec<Spanned<raw::RawAccount>>,
    ) -> Result<Directory, ConfigError> {
        let mut dir = Directory::default();
        let mut ssh_seen = ssh::SeenKeys::default();
        let mut git_credential_ids = BTreeSet::new();
        for account in accounts {
            let account = account.into_inner();
            let id = account.id.get_ref().clone();
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.err(&account.id, format!("account id `{id}` must be 12 digits")));
            }
            if dir.accounts.contains_key(&id) {
                return Err(self.err(&account.id, format!("account {id} is defined twice")));
            }

            // Groups first: users refer to them.
            let mut groups: BTreeMap<String, Vec<Arc<Policy>>> = BTreeMap::new();
            let mut group_names_ci = BTreeSet::new();
            for group in &account.groups {
                let g = group.get_ref();
                self.check_name(&g.name, "group", 128, &mut group_names_ci, &id)?;
                let name = g.name.get_ref();
                let policies = self.policies(&g.policies)?;
                groups.insert(name.clone(), policies);
            }

            let mut acct = Account {
                id: id.clone(),
                ..Account::default()
            };
            let mut user_names_ci = BTreeSet::new();
            for user in account.users {
                let user_span = user.span();
                let u = user.into_inner();
                self.check_name(&u.name, "user", 64, &mut user_names_ci, &id)?;
                let name = u.name.get_ref().clone();
                self.tags(&user_span, &u.tags)?;
                let mut policies = self.policies(&u.policies)?;
                let mut group_list = Vec::new();
                for g in &u.groups {
                    match groups.get(g.get_ref()) {
                        Some(gp) => {
                            policies.extend(gp.iter().cloned());
                            group_list.push(g.get_ref().clone());
                        }
                        None => {
                            return Err(self.err(
                                g,
                                format!("unknown group `{}` in account {id}", g.get_ref()),
                            ));
                        }
                    }
                }
                let user = Arc::new(User {
                    arn: format!("arn:aws:iam::{id}:user/{name}"),
                    user_id: unique_id("AIDA", "user", &id, &name),
                    account: id.clone(),
                    name: name.clone(),
                    groups: group_list,
                    tags: u.tags,
                    policies,
                });
                for key in &u.access_keys {
                    let (key_id, access_key) = self.access_key(key, &user)?;
                    if dir.keys.contains_key(&key_id) {
                        return Err(self.err(
                            &key.get_ref().id,
                            format!("access key {key_id} is defined twice"),
                        ));
                    }
                    dir.keys.insert(key_id, access_key);
                }
                for key in &u.ssh_keys {
                    self.timestamp(key.get_ref().uploaded.as_ref())?;
                    self.ssh_key(key, &user, &mut dir.ssh_keys, &mut ssh_seen)?;
                }
                self.git_credentials(
                    &u.git_credentials,
                    &user,
                    &mut dir.git_credentials,
                    &mut git_credential_ids,
                )?;
                acct.users.insert(name, user);
            }
            let mut role_names_ci = BTreeSet::new();
            for role in account.roles {
                let role_span = role.span();
                let r = role.into_inner();
                self.check_name(&r.name, "role", 64, &mut role_names_ci, &id)?;
                let name = r.name.get_ref().clone();
                self.tags(&role_span, &r.tags)?;
                let max_session_duration = match &r.max_session_duration {
                    None => ROLE_SESSION_RANGE.0,
                    Some(s) => {
                        let v = *s.get_ref();
                        if !(ROLE_SESSION_RANGE.0..=ROLE_SESSION_RANGE.1).contains(&v) {
                            return Err(self.err(
                                s,
                                "max_session_duration must be between 3600 and 43200 seconds",
                            ));
                        }
                        v
                    }
                };
                let trust_policy = self.policy(&r.trust_policy, true)?;
                let policies = self.policies(&r.policies)?;
                let arn = format!("arn:aws:iam::{id}:role/{name}");
                let role = Arc::new(Role {
                    arn: arn.clone(),
                    role_id: unique_id("AROA", "role", &id, &name),
                    account: id.clone(),
                    name: name.clone(),
                    trust_policy,
                    policies,
                    max_session_duration,
                    tags: r.tags,
                });
                dir.roles_by_arn.insert(arn, Arc::clone(&role));
                acct.roles.insert(name, role);
            }
            for provider in &account.oidc_providers {
                if let Some(file) = &provider.get_ref().jwks_file {
                    self.jwks_files.push(self.base.join(file));
                }
                let validated = provider
                    .get_ref()
                    .validate(&id, &self.base)
                    .map_err(|e| self.err(provider, e.to_string()))?;
                if acct
                    .oidc_providers
                    .iter()
                    .any(|p| p.issuer == validated.issuer)
                {
                    return Err(self.err(
                        provider,
                        format!(
                            "OIDC provider {} is defined twice in account {id}",
                            validated.issuer
                        ),
                    ));
                }
                acct.oidc_providers.push(validated);
            }
            for ca in &account.ssh_certificate_authorities {
                self.ssh_ca(ca, &acct, &mut dir.ssh_cas)?;
            }
            dir.accounts.insert(id, acct);
        }
        Ok(dir)
    }

    pub(super) fn access_key(
        &self,
        key: &Spanned<raw::RawAccessKey>,
        user: &Arc<User>,
    ) -> Result<(String, AccessKey), ConfigError> {
        let k = key.get_ref();
        let id = k.id.get_ref();
        self.timestamp(k.created.as_ref())?;
        let id_ok = id.starts_with("AKIA")
            && (16..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !id_ok {
            return Err(self.err(
                &k.id,
                format!("access key id `{id}` must be AKIA followed by uppercase letters and digits (16-128 characters)"),
            ));
        }
        let secret = match (&k.secret, &k.secret_env) {
            (Some(s), None) => s.get_ref().clone(),
            (None, Some(var)) => match self.env.value(var.get_ref(), || "x".repeat(40)) {
                Some(v) if !v.is_empty() => v,
                _ => {
                    return Err(self.err(
                        var,
                        format!(
                            "secret_env: environment variable {} is not set",
                            var.get_ref()
                        ),
                    ));
                }
            },
            _ => {
                return Err(self.err(
                    key,
                    format!("access key {id}: set exactly one of secret and secret_env"),
                ));
            }
        };
        // Short secrets are guessable; control characters cannot be typed
        // into an AWS credentials file.
        if secret.len() < 16 || secret.len() > 1024 || secret.chars().any(char::is_control) {
            let at = k.secret.as_ref().map_or_else(|| key.span(), |s| s.span());
            return Err(self.at(
                &at,
                format!("access key {id}: the secret must be 16-1024 characters without control characters"),
            ));
        }
        let active = self.status(&k.status, key)?;
        Ok((
            id.clone(),
            AccessKey {
                user: Arc::clone(user),
                secret: Secret::new(secret),
                active,
            },
        ))
    }
}
