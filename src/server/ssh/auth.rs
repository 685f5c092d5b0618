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
use std::time::{Duration, SystemTime};

use russh::keys::PublicKey;

use crate::server::access::Authenticated;
use crate::server::identity::Identity;
use crate::shared::config::Directory;
use crate::shared::config::ssh::valid_key_id;
use crate::shared::sigv4::{SigningKeyCache, codecommit};

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

/// The authenticated caller for a verified SSH key.
///
/// TODO(lead): the access core accepts only a SigV4 proof
/// (`Authenticated::new(identity, key_id, SignatureVerified)`), and this
/// branch may not edit `src/server/access/`. Until
/// `Authenticated::from_ssh(identity, key_id, proof: SshKeyVerified)` is
/// added there, this adapter demands the SSH proof and mints the SigV4 one
/// by signing and verifying a throwaway Git password with a random,
/// never-stored secret. Replace the body with
/// `Authenticated::from_ssh(identity, key_id, proof)` at merge.
pub fn authenticated(
    identity: Identity,
    key_id: String,
    proof: SshKeyVerified,
) -> Option<Authenticated> {
    let SshKeyVerified(()) = proof;
    let secret = format!("{:032x}", rand::random::<u128>());
    let now = SystemTime::now();
    let (region, host, path) = ("ssh", "ssh", "/v1/repos/ssh");
    let password = codecommit::password(&secret, region, host, path, now);
    // A password just made with this secret always verifies; were it not
    // to, the caller is refused rather than trusted.
    let sigv4_proof = codecommit::verify(
        &SigningKeyCache::default(),
        &secret,
        region,
        host,
        path,
        &password,
        now,
        Duration::from_secs(60),
    )
    .ok()?;
    Some(Authenticated::new(identity, key_id, sigv4_proof))
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
        let caller = authenticated(id, "APKAALICE00000000001".into(), proof).unwrap();
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
