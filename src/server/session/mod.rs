//! Temporary credentials without server-side state: the key set file
//! ([`keys`]: signing and secret-derivation keys, rotation) and the session
//! tokens ([`token`]: JWTs, and the temporary secret derived from the access
//! key id). Identity resolution verifies them; the STS API issues them.

pub mod keys;
pub mod token;
