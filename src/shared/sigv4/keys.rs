//! A bounded cache of derived SigV4 signing keys.
//!
//! Deriving a signing key costs four HMACs; a Git clone makes several
//! requests and a server sees the same few keys all day, so keys are cached
//! per (secret, date, region, service). The secret itself is never stored:
//! the cache key is an HMAC of the whole tuple under a random per-process
//! key, so a rotated secret simply misses the cache and a dump of the cache
//! does not allow guessing secrets offline.

use dashmap::DashMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::SystemTime;

/// Default number of cached signing keys before the cache is emptied.
pub const DEFAULT_CAPACITY: usize = 4096;

/// Cache of derived signing keys, safe to share between threads.
pub struct SigningKeyCache {
    fingerprint_key: [u8; 32],
    keys: DashMap<[u8; 32], [u8; 32]>,
    capacity: usize,
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("entries", &self.keys.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl SigningKeyCache {
    /// A cache holding at most `capacity` keys (at least 1). When full it is
    /// emptied: keys are cheap to re-derive, and a full cache usually means
    /// the date rolled over or someone is spraying random keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            fingerprint_key: rand::random(),
            keys: DashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The signing key for `secret` on the UTC date of `time`, `region` and
    /// `service`, derived with `aws-sigv4` on a miss.
    pub(crate) fn signing_key(
        &self,
        secret: &str,
        time: SystemTime,
        region: &str,
        service: &str,
    ) -> [u8; 32] {
        let date = super::format_amz_date(time);
        let date = date.get(..8).unwrap_or(&date);
        let id = self.fingerprint(secret, date, region, service);
        if let Some(k) = self.keys.get(&id) {
            return *k;
        }
        let key = derive(secret, time, region, service);
        if self.keys.len() >= self.capacity {
            self.keys.clear();
        }
        self.keys.insert(id, key);
        key
    }

    fn fingerprint(&self, secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
        let mut mac = hmac_with(&self.fingerprint_key);
        // Length-prefixed so that no two tuples share an encoding.
        for part in [secret, date, region, service] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }
}

fn hmac_with(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; the error branch is unreachable.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    }
}

#[cold]
fn unreachable_hmac() -> Hmac<Sha256> {
    // `new_from_slice` only fails for fixed-size keys; SHA-256 HMAC has none.
    // Fall back to the empty key rather than panicking on a request path.
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default())
}

/// Derives the SigV4 signing key with `aws-sigv4`'s own primitive.
pub(crate) fn derive(secret: &str, time: SystemTime, region: &str, service: &str) -> [u8; 32] {
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, time, region, service);
    let mut out = [0u8; 32];
    let bytes = key.as_ref();
    if bytes.len() == out.len() {
        out.copy_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// AWS's documented example: secret `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`,
    /// 2012-02-15, us-east-1, iam.
    #[test]
    fn derives_aws_documented_key() {
        let t = UNIX_EPOCH + Duration::from_secs(1_329_264_000); // 2012-02-15
        let k = derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            t,
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn caches_and_tracks_rotation() {
        let cache = SigningKeyCache::new(8);
        let t = UNIX_EPOCH + Duration::from_secs(1_329_264_000);
        let a = cache.signing_key("secret-a", t, "us-east-1", "codecommit");
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.signing_key("secret-a", t, "us-east-1", "codecommit"),
            a
        );
        assert_eq!(cache.len(), 1);
        let b = cache.signing_key("secret-b", t, "us-east-1", "codecommit");
        assert_ne!(a, b);
        assert_eq!(b, derive("secret-b", t, "us-east-1", "codecommit"));
        // Same day, later hour: same key.
        let later = t + Duration::from_secs(3600 * 5);
        assert_eq!(
            cache.signing_key("secret-a", later, "us-east-1", "codecommit"),
            a
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn stays_bounded() {
        let cache = SigningKeyCache::new(4);
        let t = UNIX_EPOCH;
        for i in 0..20 {
            let region = format!("region-{i}");
            let k = cache.signing_key("s", t, &region, "sts");
            assert_eq!(k, derive("s", t, &region, "sts"));
            assert!(cache.len() <= 4);
        }
    }

    #[test]
    fn debug_shows_no_keys() {
        let cache = SigningKeyCache::new(4);
        let _ = cache.signing_key("topsecret", UNIX_EPOCH, "r", "s");
        let d = format!("{cache:?}");
        assert!(d.contains("entries: 1"), "{d}");
        assert!(!d.contains("topsecret"));
    }
}
