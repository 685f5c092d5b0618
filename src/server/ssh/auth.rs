//! Public-key authentication: the SSH user name is the key id
//! (`APKA...`), as in CodeCommit, and the key that proves possession must
//! be that id's active key.
//!
//! russh asks twice: [`check_offer`] when a key is merely offered (nothing
//! is proved; it only spares the client a signature that would be refused)
//! and [`verified_signature`] once russh has verified the signature over
//! the session id. Only the latter yields an [`SshKeyVerified`], and only
//! with one the caller becomes an [`Authenticated`]. Rejections take a
//! constant time (russh's `auth_rejection_time`) and are bounded per
//! connection (`max_auth_attempts`), see [`super::server`].

use std::sync::Arc;
use std::time::SystemTime;

use std::net::IpAddr;
use std::time::UNIX_EPOCH;

use russh::keys::ssh_key::certificate::CertType;
use russh::keys::{Certificate, HashAlg, PublicKey};

use crate::server::access::{Authenticated, Proof};
use crate::server::identity::Identity;
use crate::shared::config::Directory;
use crate::shared::config::ssh::{SshCertificateAuthority, valid_key_id};

/// Certificate principal (and SSH user name) naming an IAM user of the
/// CA's account: `user.NAME`.
pub const USER_PRINCIPAL: &str = "user.";
/// Certificate principal (and SSH user name) naming a session of a role of
/// the CA's account: `role.NAME` (the session is named by the
/// certificate's key id).
pub const ROLE_PRINCIPAL: &str = "role.";

/// Proof that a client signed the SSH session with the key it presented,
/// and that the key is the active key of the id it named. Only
/// [`verified_signature`] constructs it (the field is private).
#[derive(Debug)]
#[must_use = "a verified key is only useful when authorization demands it"]
pub struct SshKeyVerified(());

/// Why a key is refused. Goes to logs and the audit line, never to the
/// client (which only learns that public-key authentication failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// The user name is not an SSH key id.
    #[error("the SSH user name is not an SSH key id")]
    NotAKeyId,
    /// No key with this id (unknown or removed).
    #[error("unknown SSH key id")]
    UnknownKey,
    /// The key exists but is inactive.
    #[error("inactive SSH key")]
    InactiveKey,
    /// The key presented is not the one uploaded under this id.
    #[error("the public key is not the key of this SSH key id")]
    WrongKey,
    /// The certificate's signer is no trusted authority.
    #[error("certificate signed by an untrusted authority")]
    UntrustedCa,
    /// Bad signature, not valid now, or a host certificate.
    #[error("certificate invalid, expired or not yet valid")]
    InvalidCertificate,
    /// The SSH user name is not among the certificate's principals (or it
    /// lists none).
    #[error("the SSH user name is not a principal of the certificate")]
    NotAPrincipal,
    /// A critical option gitiam does not enforce, or a source-address the
    /// client is not in.
    #[error("certificate critical option refused")]
    CriticalOption,
    /// The principal names no user or role this authority may name.
    #[error("the certificate's principal names no user or role this authority may vouch for")]
    UnknownPrincipal,
    /// A role session certificate valid for longer than the role's
    /// `max_session_duration`, or with a key id unusable as session name.
    #[error("role certificate too long-lived or its key id is not a session name")]
    BadRoleCertificate,
}

/// Checks that `user` names an active key and that `offered` is that key.
/// Proves nothing about possession.
pub fn check_offer(
    directory: &Directory,
    user: &str,
    offered: &PublicKey,
) -> Result<Identity, KeyRefusal> {
    if !valid_key_id(user) {
        return Err(KeyRefusal::NotAKeyId);
    }
    let key = directory.ssh_key(user).ok_or(KeyRefusal::UnknownKey)?;
    if !key.active {
        return Err(KeyRefusal::InactiveKey);
    }
    // Public keys are not secrets: a plain comparison leaks nothing.
    if key.public_key.key_data() != offered.key_data() {
        return Err(KeyRefusal::WrongKey);
    }
    Ok(Identity::User(Arc::clone(&key.user)))
}

/// Called only once russh has verified the client's signature made with
/// `key` (russh's `Handler::auth_publickey`): checks the key against the
/// directory as it is now and returns the identity with the proof.
pub fn verified_signature(
    directory: &Directory,
    user: &str,
    key: &PublicKey,
) -> Result<(Identity, SshKeyVerified), KeyRefusal> {
    let identity = check_offer(directory, user, key)?;
    Ok((identity, SshKeyVerified(())))
}

/// True when `user` may be a certificate login (`user.NAME` / `role.NAME`)
/// and some authority is configured: the offer is let through to the
/// signature check, and [`verified_certificate`] decides.
pub fn may_be_certificate_login(directory: &Directory, user: &str) -> bool {
    (user.starts_with(USER_PRINCIPAL) || user.starts_with(ROLE_PRINCIPAL))
        && directory.has_ssh_certificate_authorities()
}

/// Called only once russh has verified the client's signature made with
/// the key of `cert` (russh's `Handler::auth_openssh_certificate`): checks
/// the certificate (again: signature, validity now) against the
/// authorities trusted as the directory says now, the user name against
/// its principals, its critical options, and binds the principal it names.
/// Returns the identity, a label for the audit line
/// (`cert:CA:SERIAL:KEY_ID`) and the proof.
pub fn verified_certificate(
    directory: &Directory,
    user: &str,
    cert: &Certificate,
    peer: IpAddr,
    now: SystemTime,
) -> Result<(Identity, String, SshKeyVerified), KeyRefusal> {
    let ca = directory
        .ssh_certificate_authority(cert.signature_key())
        .ok_or(KeyRefusal::UntrustedCa)?;
    let unix = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let ca_fingerprint = ca.public_key.fingerprint(HashAlg::Sha256);
    cert.validate_at(unix, [&ca_fingerprint])
        .map_err(|_| KeyRefusal::InvalidCertificate)?;
    if cert.cert_type() != CertType::User {
        return Err(KeyRefusal::InvalidCertificate);
    }
    // An empty list means "any principal" to OpenSSH; here a certificate
    // must name who it is for.
    if !cert.valid_principals().iter().any(|p| p == user) {
        return Err(KeyRefusal::NotAPrincipal);
    }
    for (option, value) in cert.critical_options().iter() {
        match option.as_str() {
            "source-address" if source_address_allows(value, peer) => {}
            _ => return Err(KeyRefusal::CriticalOption),
        }
    }
    let identity = principal_identity(directory, ca, user, cert)?;
    let key_id: String = cert
        .key_id()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let label = format!("cert:{}:{}:{key_id}", ca.name, cert.serial());
    Ok((identity, label, SshKeyVerified(())))
}

/// `source-address`: comma-separated addresses and CIDR blocks.
fn source_address_allows(list: &str, peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    list.split(',').map(str::trim).any(|entry| {
        entry
            .parse::<ipnet::IpNet>()
            .map(|net| net.contains(&peer))
            .or_else(|_| entry.parse::<IpAddr>().map(|ip| ip == peer))
            .unwrap_or(false)
    })
}

fn principal_identity(
    directory: &Directory,
    ca: &SshCertificateAuthority,
    user: &str,
    cert: &Certificate,
) -> Result<Identity, KeyRefusal> {
    if let Some(name) = user.strip_prefix(USER_PRINCIPAL) {
        let user = directory
            .user(&ca.account, name)
            .ok_or(KeyRefusal::UnknownPrincipal)?;
        return Ok(Identity::User(user));
    }
    let name = user
        .strip_prefix(ROLE_PRINCIPAL)
        .ok_or(KeyRefusal::UnknownPrincipal)?;
    if !ca.roles.iter().any(|r| r == name) {
        return Err(KeyRefusal::UnknownPrincipal);
    }
    let role = directory
        .role(&ca.account, name)
        .ok_or(KeyRefusal::UnknownPrincipal)?;
    let (iat, exp) = (cert.valid_after(), cert.valid_before());
    if exp.saturating_sub(iat) > role.max_session_duration {
        return Err(KeyRefusal::BadRoleCertificate);
    }
    let session_name = cert.key_id();
    let session_name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !session_name_ok {
        return Err(KeyRefusal::BadRoleCertificate);
    }
    Ok(Identity::plain_role_session(
        role,
        session_name,
        format!("ssh-ca:{}", ca.name),
        (iat, exp),
        None,
    ))
}

impl Proof for SshKeyVerified {
    fn method(&self) -> &'static str {
        "ssh-key"
    }
}

/// The authenticated caller for a verified SSH key or certificate.
pub fn authenticated(identity: Identity, key_id: String, proof: SshKeyVerified) -> Authenticated {
    Authenticated::new(identity, key_id, proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::config;
    use std::path::Path;

    const ALICE: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINWgpsprtJojowAD9c0bSfXLV5nzxO/N47QfUPRg1wPU alice";
    const BOB: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM0FcPw8jIy2c3rYpycDrnV/iC5xA0hyYnLjUn70Q5C+ bob";

    fn directory() -> Directory {
        let text = format!(
            r#"
[[accounts]]
id = "111122223333"
[[accounts.users]]
name = "alice"
ssh_keys = [{{ id = "APKAALICE00000000001", public_key = "{ALICE}" }}]
[[accounts.users]]
name = "bob"
ssh_keys = [{{ id = "APKABOB0000000000001", public_key = "{BOB}", status = "Inactive" }}]
"#
        );
        config::load_str(Path::new("gitiam.toml"), Path::new("."), &text)
            .unwrap()
            .directory
    }

    #[test]
    fn the_user_name_is_the_id_of_the_key_presented() {
        let d = directory();
        let alice = PublicKey::from_openssh(ALICE).unwrap();
        let bob = PublicKey::from_openssh(BOB).unwrap();
        let (id, proof) = verified_signature(&d, "APKAALICE00000000001", &alice).unwrap();
        assert_eq!(id.arn(), "arn:aws:iam::111122223333:user/alice");
        let caller = authenticated(id, "APKAALICE00000000001".into(), proof);
        assert_eq!(caller.access_key_id(), "APKAALICE00000000001");
        assert_eq!(
            check_offer(&d, "APKAALICE00000000001", &bob).unwrap_err(),
            KeyRefusal::WrongKey
        );
        assert_eq!(
            check_offer(&d, "APKABOB0000000000001", &bob).unwrap_err(),
            KeyRefusal::InactiveKey
        );
        assert_eq!(
            check_offer(&d, "APKAUNKNOWN000000001", &alice).unwrap_err(),
            KeyRefusal::UnknownKey
        );
        assert_eq!(
            check_offer(&d, "git", &alice).unwrap_err(),
            KeyRefusal::NotAKeyId
        );
    }
}
