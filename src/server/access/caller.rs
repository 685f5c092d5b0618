//! The authenticated caller: an identity together with the proof that its
//! signature was checked. Every decision of the access core takes one, so
//! nothing is decided for a caller whose signature was not verified.

use crate::server::identity::Identity;
use crate::shared::sigv4::SignatureVerified;

/// The caller of a request whose signature checked out.
#[derive(Debug)]
pub struct Authenticated {
    identity: Identity,
    access_key_id: String,
    // Only `sigv4`'s verify functions construct it; holding one is what
    // makes this value an authenticated caller rather than a claimed one.
    _proof: SignatureVerified,
}

impl Authenticated {
    /// The caller `identity`, who signed with `access_key_id`; `proof` is
    /// what the signature check returned.
    pub fn new(identity: Identity, access_key_id: String, proof: SignatureVerified) -> Self {
        Self {
            identity,
            access_key_id,
            _proof: proof,
        }
    }

    /// Who.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The access key id used.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
}
