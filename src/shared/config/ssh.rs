//! The SSH parts of `gitiam.toml`: `[server] ssh_listen` and
//! `ssh_host_keys`, and the users' `ssh_keys`.
//!
//! A user's SSH key is an OpenSSH public key line with an id in IAM's form
//! (`APKA` + 16 uppercase letters or digits), unique across all accounts;
//! the SSH client presents the id as its user name, as with CodeCommit. A
//! public key belongs to one user only. Accepted key types: ssh-ed25519,
//! ecdsa-sha2-nistp256/384/521, and ssh-rsa of at least 2048 bits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use russh::keys::ssh_key::public::KeyData;
use russh::keys::{EcdsaCurve, HashAlg, PublicKey};
use toml::Spanned;

use super::raw::{self, RawSshCa, RawSshKey};
use super::{ConfigError, Loader, User, line_column};

/// Smallest accepted RSA modulus.
pub const MIN_RSA_BITS: u32 = 2048;
/// Default host key, relative to the state folder.
pub const DEFAULT_HOST_KEY: &str = "ssh/host_ed25519_key";

/// An SSH certificate authority trusted by an account: a user certificate
/// it signed, valid now, authenticates the IAM user (principal
/// `user.NAME`) or a session of one of `roles` (principal `role.NAME`) of
/// that account.
pub struct SshCertificateAuthority {
    /// The account trusting it.
    pub account: String,
    /// Its name (messages, audit).
    pub name: String,
    /// The CA's public key (comment dropped).
    pub public_key: PublicKey,
    /// Roles whose sessions its certificates may name.
    pub roles: Vec<String>,
}

impl std::fmt::Debug for SshCertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshCertificateAuthority")
            .field("account", &self.account)
            .field("name", &self.name)
            .field("fingerprint", &fingerprint(&self.public_key))
            .field("roles", &self.roles)
            .finish()
    }
}

/// `[server]`'s SSH settings, with defaults applied.
#[derive(Debug, Clone, Default)]
pub struct SshServerConfig {
    /// Where the SSH door listens; `None`: no SSH door.
    pub listen: Option<SocketAddr>,
    /// OpenSSH private host keys; empty: an ed25519 key generated (once)
    /// at `STATE_DIR/ssh/host_ed25519_key`.
    pub host_keys: Vec<PathBuf>,
}

/// An uploaded SSH public key of a user.
pub struct SshKey {
    /// `APKA...`.
    pub id: String,
    /// The owner.
    pub user: Arc<User>,
    /// The key (comment dropped).
    pub public_key: PublicKey,
    /// `status = "Inactive"` keys authenticate nobody.
    pub active: bool,
}

impl std::fmt::Debug for SshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshKey")
            .field("id", &self.id)
            .field("user", &self.user.arn)
            .field("fingerprint", &fingerprint(&self.public_key))
            .field("active", &self.active)
            .finish()
    }
}

/// `SHA256:...` of a public key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// True for an SSH key id: `APKA` + 16 uppercase letters or digits.
pub fn valid_key_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with("APKA")
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Parses an OpenSSH public key line (`TYPE BASE64 [COMMENT]`) of an
/// accepted type and size.
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let mut key = PublicKey::from_openssh(text.trim())
        .map_err(|e| format!("not an OpenSSH public key line ({e})"))?;
    match key.key_data() {
        KeyData::Ed25519(_) => {}
        KeyData::Ecdsa(k) => match k.curve() {
            EcdsaCurve::NistP256 | EcdsaCurve::NistP384 | EcdsaCurve::NistP521 => {}
        },
        KeyData::Rsa(k) => {
            let bits = k.key_size();
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "ssh-rsa keys must have at least {MIN_RSA_BITS} bits (this one has {bits})"
                ));
            }
        }
        other => {
            return Err(format!(
                "key type {} is not accepted (use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa)",
                other.algorithm()
            ));
        }
    }
    key.set_comment("");
    Ok(key)
}

/// Where each public key was first seen, to name both places of a
/// duplicate.
#[derive(Default)]
pub(super) struct SeenKeys {
    by_key: HashMap<Vec<u8>, (String, String, usize, usize)>,
}

impl Loader<'_> {
    /// `[server] ssh_listen` and `ssh_host_keys`.
    pub(super) fn ssh_server(&self, raw: &raw::RawServer) -> Result<SshServerConfig, ConfigError> {
        let listen = match &raw.ssh_listen {
            None => None,
            Some(s) => Some(s.get_ref().parse().map_err(|_| {
                self.err(
                    s,
                    format!(
                        "ssh_listen: `{}` is not an address like 127.0.0.1:2222",
                        s.get_ref()
                    ),
                )
            })?),
        };
        let mut host_keys = Vec::new();
        for k in raw.ssh_host_keys.iter().flatten() {
            if k.get_ref().is_empty() {
                return Err(self.err(k, "ssh_host_keys: empty path"));
            }
            host_keys.push(self.resolve(k.get_ref()));
        }
        Ok(SshServerConfig { listen, host_keys })
    }

    /// Validates one of `user`'s `ssh_keys` and adds it to `keys`.
    pub(super) fn ssh_key(
        &self,
        key: &Spanned<RawSshKey>,
        user: &Arc<User>,
        keys: &mut HashMap<String, SshKey>,
        seen: &mut SeenKeys,
    ) -> Result<(), ConfigError> {
        let k = key.get_ref();
        let id = k.id.get_ref();
        if !valid_key_id(id) {
            return Err(self.err(
                &k.id,
                format!(
                    "SSH key id `{id}` must be APKA followed by 16 uppercase letters or digits"
                ),
            ));
        }
        if keys.contains_key(id) {
            return Err(self.err(&k.id, format!("SSH key id {id} is defined twice")));
        }
        let public_key = parse_public_key(k.public_key.get_ref())
            .map_err(|m| self.err(&k.public_key, format!("SSH key {id}: {m}")))?;
        let active = self.status(&k.status, key)?;
        let bytes = public_key
            .key_data()
            .fingerprint(HashAlg::Sha512)
            .as_bytes()
            .to_vec();
        let (line, column) = line_column(self.text, k.public_key.span().start);
        if let Some((first, owner, l, c)) = seen.by_key.get(&bytes) {
            return Err(self.err(
                &k.public_key,
                format!(
                    "SSH key {id} of {}: this public key is already SSH key {first} of {owner} (at {}:{l}:{c}); a public key belongs to one user only",
                    user.arn, self.path
                ),
            ));
        }
        seen.by_key
            .insert(bytes, (id.clone(), user.arn.clone(), line, column));
        keys.insert(
            id.clone(),
            SshKey {
                id: id.clone(),
                user: Arc::clone(user),
                public_key,
                active,
            },
        );
        Ok(())
    }

    /// Validates one of `account`'s `ssh_certificate_authorities` (after
    /// its roles are known) and adds it to `cas`.
    pub(super) fn ssh_ca(
        &self,
        ca: &Spanned<RawSshCa>,
        account: &super::Account,
        cas: &mut Vec<SshCertificateAuthority>,
    ) -> Result<(), ConfigError> {
        let c = ca.get_ref();
        let name = c.name.get_ref();
        if !super::valid_name(name, 64) {
            return Err(self.err(
                &c.name,
                format!("SSH certificate authority name `{name}` must be 1-64 of letters, digits and +=,.@_-"),
            ));
        }
        let id = &account.id;
        if cas.iter().any(|o| o.account == *id && o.name == *name) {
            return Err(self.err(
                &c.name,
                format!("SSH certificate authority {name} is defined twice in account {id}"),
            ));
        }
        let public_key = parse_public_key(c.public_key.get_ref()).map_err(|m| {
            self.err(
                &c.public_key,
                format!("SSH certificate authority {name}: {m}"),
            )
        })?;
        if let Some(other) = cas
            .iter()
            .find(|o| o.public_key.key_data() == public_key.key_data())
        {
            return Err(self.err(
                &c.public_key,
                format!(
                    "SSH certificate authority {name}: this key is already the authority {} of account {}; a CA key belongs to one account only",
                    other.name, other.account
                ),
            ));
        }
        let mut roles = Vec::new();
        for r in &c.roles {
            if !account.roles.contains_key(r.get_ref()) {
                return Err(self.err(r, format!("unknown role `{}` in account {id}", r.get_ref())));
            }
            roles.push(r.get_ref().clone());
        }
        cas.push(SshCertificateAuthority {
            account: id.clone(),
            name: name.clone(),
            public_key,
            roles,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINWgpsprtJojowAD9c0bSfXLV5nzxO/N47QfUPRg1wPU alice@laptop";

    #[test]
    fn key_ids() {
        assert!(valid_key_id("APKAEIBAERJR2EXAMPLE"));
        assert!(!valid_key_id("APKAEIBAERJR2EXAMPL"));
        assert!(!valid_key_id("APKAEIBAERJR2EXAMPLEX"));
        assert!(!valid_key_id("AKIAEIBAERJR2EXAMPLE"));
        assert!(!valid_key_id("APKAeIBAERJR2EXAMPLE"));
    }

    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM0FcPw8jIy2c3rYpycDrnV/iC5xA0hyYnLjUn70Q5C+ bob";

    fn load(text: &str) -> Result<crate::shared::config::Config, ConfigError> {
        crate::shared::config::load_str(
            std::path::Path::new("gitiam.toml"),
            std::path::Path::new("/etc/gitiam"),
            text,
        )
    }

    fn users(alice_keys: &str, bob_keys: &str) -> String {
        format!(
            "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"alice\"\nssh_keys = [{alice_keys}]\n[[accounts]]\nid = \"444455556666\"\n[[accounts.users]]\nname = \"bob\"\nssh_keys = [{bob_keys}]\n"
        )
    }

    #[test]
    fn server_settings() {
        let c =
            load("[server]\nssh_listen = \"127.0.0.1:0\"\nssh_host_keys = [\"k1\", \"/abs/k2\"]\n")
                .unwrap();
        assert_eq!(c.server.ssh.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(
            c.server.ssh.host_keys,
            [PathBuf::from("/etc/gitiam/k1"), PathBuf::from("/abs/k2")]
        );
        let c = load("").unwrap();
        assert!(c.server.ssh.listen.is_none() && c.server.ssh.host_keys.is_empty());
        let e = load("[server]\nssh_listen = \"localhost\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "gitiam.toml:2:14: ssh_listen: `localhost` is not an address like 127.0.0.1:2222"
        );
    }

    #[test]
    fn keys_are_checked_with_their_places() {
        let ok = users(
            &format!("{{ id = \"APKAEIBAERJR2EXAMPLE\", public_key = \"{ED}\" }}"),
            &format!(
                "{{ id = \"APKAEIBAERJR2EXAMPL2\", public_key = \"{ED2}\", status = \"Inactive\" }}"
            ),
        );
        let c = load(&ok).unwrap();
        let k = c.directory.ssh_key("APKAEIBAERJR2EXAMPLE").unwrap();
        assert_eq!(k.user.arn, "arn:aws:iam::111122223333:user/alice");
        assert!(k.active);
        assert!(!c.directory.ssh_key("APKAEIBAERJR2EXAMPL2").unwrap().active);

        // The same public key for two users: both places are named.
        let dup = users(
            &format!("{{ id = \"APKAEIBAERJR2EXAMPLE\", public_key = \"{ED}\" }}"),
            &format!("{{ id = \"APKAEIBAERJR2EXAMPL2\", public_key = \"{ED}\" }}"),
        );
        let e = load(&dup).unwrap_err().to_string();
        assert!(e.starts_with("gitiam.toml:10:57: SSH key APKAEIBAERJR2EXAMPL2 of arn:aws:iam::444455556666:user/bob:"), "{e}");
        assert!(e.contains("already SSH key APKAEIBAERJR2EXAMPLE of arn:aws:iam::111122223333:user/alice (at gitiam.toml:5:57)"), "{e}");

        // The same id twice, even across accounts.
        let twice = users(
            &format!("{{ id = \"APKAEIBAERJR2EXAMPLE\", public_key = \"{ED}\" }}"),
            &format!("{{ id = \"APKAEIBAERJR2EXAMPLE\", public_key = \"{ED2}\" }}"),
        );
        let e = load(&twice).unwrap_err().to_string();
        assert!(
            e.contains("SSH key id APKAEIBAERJR2EXAMPLE is defined twice"),
            "{e}"
        );

        for (keys, message) in [
            (
                format!("{{ id = \"APKA123\", public_key = \"{ED}\" }}"),
                "must be APKA followed by 16",
            ),
            (
                "{ id = \"APKAEIBAERJR2EXAMPLE\", public_key = \"ssh-dss AAAAB3NzaC1kc3M=\" }"
                    .to_string(),
                "SSH key APKAEIBAERJR2EXAMPLE: ",
            ),
            (
                format!(
                    "{{ id = \"APKAEIBAERJR2EXAMPLE\", public_key = \"{ED}\", status = \"Off\" }}"
                ),
                "status `Off`",
            ),
            (
                format!("{{ id = \"APKAEIBAERJR2EXAMPLE\", key = \"{ED}\" }}"),
                "unknown field",
            ),
        ] {
            let e = load(&users(&keys, "")).unwrap_err().to_string();
            assert!(e.starts_with("gitiam.toml:5:"), "{e}");
            assert!(e.contains(message), "{e}");
        }
    }

    #[test]
    fn certificate_authorities() {
        let ca = |name: &str, key: &str, roles: &str| {
            format!(
                "[[accounts.ssh_certificate_authorities]]\nname = \"{name}\"\npublic_key = \"{key}\"\nroles = [{roles}]\n"
            )
        };
        let account = "[[accounts]]\nid = \"111122223333\"\n";
        let c = load(&format!("{account}{}", ca("ci", ED, ""))).unwrap();
        let key = parse_public_key(ED).unwrap();
        let found = c
            .directory
            .ssh_certificate_authority(key.key_data())
            .unwrap();
        assert_eq!(
            (found.account.as_str(), found.name.as_str()),
            ("111122223333", "ci")
        );
        assert!(c.directory.has_ssh_certificate_authorities());

        let e = load(&format!("{account}{}", ca("ci", ED, "\"deploy\""))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "gitiam.toml:6:10: unknown role `deploy` in account 111122223333"
        );
        let e = load(&format!(
            "{account}{}{}",
            ca("ci", ED, ""),
            ca("ci2", ED, "")
        ))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("this key is already the authority ci of account 111122223333"),
            "{e}"
        );
        let e = load(&format!("{account}{}", ca("c i", ED, ""))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("gitiam.toml:4:8: SSH certificate authority name"),
            "{e}"
        );
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "1024", "-N", "", "-f"])
            .arg(&path)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: ssh-keygen cannot make a 1024-bit RSA key here");
            return;
        }
        let line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        let e = parse_public_key(&line).unwrap_err();
        assert!(e.contains("at least 2048 bits (this one has 1024)"), "{e}");
    }

    #[test]
    fn public_keys() {
        let k = parse_public_key(ED).unwrap();
        assert!(fingerprint(&k).starts_with("SHA256:"));
        assert!(k.comment().is_empty());
        assert!(parse_public_key("ssh-ed25519 AAAA").is_err());
        assert!(parse_public_key("hello").is_err());
    }
}
