//! The authenticated caller: an identity together with the proof that its
//! credential was verified. Every decision of the access core takes one, so
//! nothing is decided for a caller whose signature was not verified.

use crate::server::identity::Identity;
use crate::shared::config::git_credential::GitCredentialVerified;
use crate::shared::sigv4::SignatureVerified;

/// Evidence that a caller's credential was verified. Implemented only by
/// types that a verification step alone constructs (their fields are
/// private to the verifying module): `sigv4::SignatureVerified` (a SigV4
/// Git password or request signature) and the SSH door's `SshKeyVerified`
/// (a session signed with the key, or certificate, the directory accepts),
/// and `GitCredentialVerified` (an HTTPS Git credential's password).
pub trait Proof: std::fmt::Debug + Send + Sync + 'static {
    /// How the caller authenticated (`sigv4`, `ssh-key`, ...).
    fn method(&self) -> &'static str;
}

impl Proof for SignatureVerified {
    fn method(&self) -> &'static str {
        "sigv4"
    }
}

impl Proof for GitCredentialVerified {
    fn method(&self) -> &'static str {
        "git-credential"
    }
}

/// The caller of a request whose credential checked out.
#[derive(Debug)]
pub struct Authenticated {
    identity: Identity,
    credential_id: String,
    method: &'static str,
}

impl Authenticated {
    /// The caller `identity`, who presented `credential_id` (an access key
    /// id, an SSH key id); `proof` is what verifying the credential
    /// returned, consumed here so that no caller exists without one.
    pub fn new(identity: Identity, credential_id: String, proof: impl Proof) -> Self {
        Self {
            identity,
            credential_id,
            method: proof.method(),
        }
    }

    /// Who.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The access key id (or SSH key id, or Git credential id) used.
    pub fn access_key_id(&self) -> &str {
        &self.credential_id
    }

    /// How the caller authenticated (`sigv4`, `ssh-key`, `git-credential`).
    pub fn method(&self) -> &'static str {
        self.method
    }
}
