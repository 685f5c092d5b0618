//! The server's STS key set: the secrets that sign session tokens and derive
//! temporary secret access keys.
//!
//! Each key has an id (`kid`, carried in the token header), a JWT signing
//! secret and a separate secret-derivation key: the token is visible to
//! whoever holds it, the derivation key never leaves the server, so knowing a
//! token (even together with the signing secret) does not give its secret.
//! One key is active and signs new tokens; the others keep verifying tokens
//! they signed until an operator removes them (rotation without breaking
//! live sessions).
//!
//! The set lives in a JSON file created with mode 0600. Replicas that must
//! accept each other's credentials share copies of that file; nothing else
//! is shared.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::shared::secret_file::{self, Create};

/// Bytes of each secret (256 bits, the HMAC-SHA256 block-size sweet spot).
const SECRET_LEN: usize = 32;
/// Refuse absurd key files instead of reading them whole.
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;
/// Format marker, so a future layout can be told apart.
const FORMAT_VERSION: u32 = 1;

/// One key of the set. `Debug` shows only the id.
#[derive(Clone)]
pub struct StsKey {
    kid: String,
    signing: [u8; SECRET_LEN],
    derivation: [u8; SECRET_LEN],
    created: i64,
}

impl StsKey {
    fn generate(now: i64) -> Self {
        let mut rng = rand::rng();
        let mut signing = [0u8; SECRET_LEN];
        let mut derivation = [0u8; SECRET_LEN];
        rng.fill_bytes(&mut signing);
        rng.fill_bytes(&mut derivation);
        let mut id = [0u8; 6];
        rng.fill_bytes(&mut id);
        Self {
            kid: format!("k{now}-{}", hex::encode(id)),
            signing,
            derivation,
            created: now,
        }
    }

    /// The key id (`kid` of the tokens it signs).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Unix time the key was generated.
    pub fn created(&self) -> i64 {
        self.created
    }

    pub(crate) fn signing_secret(&self) -> &[u8] {
        &self.signing
    }

    pub(crate) fn derivation_key(&self) -> &[u8] {
        &self.derivation
    }
}

impl fmt::Debug for StsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsKey")
            .field("kid", &self.kid)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// The key set: exactly one active key, and retired keys that still verify.
/// Holding the active key apart makes "never empty, one active" a property
/// of the type rather than of an index.
#[derive(Clone, Debug)]
pub struct KeySet {
    active: StsKey,
    retired: Vec<StsKey>,
}

/// Why a key file cannot be used. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a gitiam STS key file: {reason}")]
    Format { path: String, reason: String },
    #[error("{path}: is readable by other users (mode {mode:o}); run chmod 600")]
    Permissions { path: String, mode: u32 },
    #[error("no key with id {0}")]
    UnknownKid(String),
    #[error("refusing to remove the active key {0}; rotate first")]
    RemoveActive(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    active: String,
    keys: Vec<KeyFileEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileEntry {
    kid: String,
    created: i64,
    signing_secret: String,
    derivation_secret: String,
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl KeySet {
    /// A new set with one fresh random key.
    pub fn generate() -> Self {
        Self {
            active: StsKey::generate(now_unix()),
            retired: Vec::new(),
        }
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &StsKey {
        &self.active
    }

    fn all(&self) -> impl Iterator<Item = &StsKey> {
        std::iter::once(&self.active).chain(self.retired.iter())
    }

    /// The key with id `kid`, if it is still in the set.
    pub fn get(&self, kid: &str) -> Option<&StsKey> {
        self.all().find(|k| k.kid == kid)
    }

    /// All key ids, active first.
    pub fn kids(&self) -> Vec<&str> {
        self.all().map(StsKey::kid).collect()
    }

    /// Adds a fresh key and makes it active; the others keep verifying.
    /// Returns the new key id.
    pub fn rotate(&mut self) -> String {
        let kid = self.add();
        // `add` just inserted it, so activation cannot fail.
        let _ = self.activate(&kid);
        kid
    }

    /// Adds a fresh key that verifies but does not sign yet: the first step
    /// of a rotation across replicas (distribute, then [`KeySet::activate`]),
    /// so no replica ever sees a token signed by a key it lacks.
    pub fn add(&mut self) -> String {
        let mut key = StsKey::generate(now_unix());
        while self.get(&key.kid).is_some() {
            key = StsKey::generate(now_unix());
        }
        let kid = key.kid.clone();
        self.retired.insert(0, key);
        kid
    }

    /// Makes the key `kid` the one that signs new tokens.
    pub fn activate(&mut self, kid: &str) -> Result<(), KeyError> {
        if self.active.kid == kid {
            return Ok(());
        }
        let index = self
            .retired
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
        let key = self.retired.remove(index);
        let previous = std::mem::replace(&mut self.active, key);
        self.retired.insert(0, previous);
        Ok(())
    }

    /// Drops a retired key: tokens it signed stop working at once (the
    /// "revoke everything issued before the rotation" lever).
    pub fn remove(&mut self, kid: &str) -> Result<(), KeyError> {
        if self.active.kid == kid {
            return Err(KeyError::RemoveActive(kid.to_owned()));
        }
        let before = self.retired.len();
        self.retired.retain(|k| k.kid != kid);
        if self.retired.len() == before {
            return Err(KeyError::UnknownKid(kid.to_owned()));
        }
        Ok(())
    }

    /// Reads the key file at `path`, or creates it (mode 0600, parent
    /// folders included) with one fresh key when it does not exist.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        match Self::load(path) {
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let set = Self::generate();
                match set.write_new(path) {
                    Ok(()) => Ok(set),
                    // Another process (a replica started at the same time)
                    // won the race: use its file so both agree.
                    Err(KeyError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        Self::load(path)
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    /// Reads and checks the key file at `path`.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let io = |source| KeyError::Io {
            path: shown.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions { path: shown, mode });
            }
        }
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(KeyError::Format {
                path: shown,
                reason: "file too large".into(),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_json(&bytes).map_err(|reason| KeyError::Format {
            path: shown,
            reason,
        })
    }

    fn from_json(bytes: &[u8]) -> Result<Self, String> {
        // serde_json's error names line and column only, never the content.
        let file: KeyFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != FORMAT_VERSION {
            return Err(format!("unsupported version {}", file.version));
        }
        let mut keys: Vec<StsKey> = Vec::with_capacity(file.keys.len());
        for entry in file.keys {
            if entry.kid.is_empty()
                || entry.kid.len() > 64
                || !entry
                    .kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err("kid must be 1-64 of letters, digits, - and _".into());
            }
            if keys.iter().any(|k| k.kid == entry.kid) {
                return Err(format!("duplicate kid {}", entry.kid));
            }
            let signing = decode_secret(&entry.signing_secret).ok_or_else(|| {
                format!(
                    "key {}: signing_secret must be 32 bytes of base64",
                    entry.kid
                )
            })?;
            let derivation = decode_secret(&entry.derivation_secret).ok_or_else(|| {
                format!(
                    "key {}: derivation_secret must be 32 bytes of base64",
                    entry.kid
                )
            })?;
            keys.push(StsKey {
                kid: entry.kid,
                signing,
                derivation,
                created: entry.created,
            });
        }
        let index = keys
            .iter()
            .position(|k| k.kid == file.active)
            .ok_or_else(|| format!("active key {} is not in keys", file.active))?;
        let active = keys.remove(index);
        Ok(Self {
            active,
            retired: keys,
        })
    }

    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let file = KeyFile {
            version: FORMAT_VERSION,
            active: self.active().kid.clone(),
            keys: self
                .all()
                .map(|k| KeyFileEntry {
                    kid: k.kid.clone(),
                    created: k.created,
                    signing_secret: STANDARD.encode(k.signing),
                    derivation_secret: STANDARD.encode(k.derivation),
                })
                .collect(),
        };
        let mut out = serde_json::to_vec_pretty(&file)?;
        out.push(b'\n');
        Ok(out)
    }

    /// Creates `path` (which must not exist) with mode 0600.
    fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        self.write_with(path, |path, json| {
            secret_file::write(path, json, Create::New)
        })
    }

    /// Replaces the file at `path` atomically (write a 0600 sibling, then
    /// rename), so a replica reading it never sees half a file.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        self.write_with(path, secret_file::replace)
    }

    /// Serialises the set and hands it to `write`, after creating `path`'s
    /// folder; errors name `path`.
    fn write_with(
        &self,
        path: &Path,
        write: impl FnOnce(&Path, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), KeyError> {
        let shown = path.display().to_string();
        let io = |source| KeyError::Io {
            path: shown.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let json = self.to_json().map_err(|e| KeyError::Format {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        write(path, &json).map_err(io)
    }
}

fn decode_secret(text: &str) -> Option<[u8; SECRET_LEN]> {
    let bytes = STANDARD.decode(text).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_load_roundtrip_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/sts-keys.json");
        let a = KeySet::load_or_generate(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let b = KeySet::load_or_generate(&path).unwrap();
        assert_eq!(a.active().kid(), b.active().kid());
        assert_eq!(a.active().signing_secret(), b.active().signing_secret());
        assert_eq!(a.active().derivation_key(), b.active().derivation_key());
        assert_ne!(a.active().signing_secret(), a.active().derivation_key());
    }

    #[test]
    fn rotation_keeps_old_keys_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let mut set = KeySet::load_or_generate(&path).unwrap();
        let old = set.active().kid().to_owned();
        let new = set.rotate();
        assert_ne!(old, new);
        assert_eq!(set.active().kid(), new);
        set.save(&path).unwrap();
        let mut loaded = KeySet::load(&path).unwrap();
        assert_eq!(loaded.active().kid(), new);
        assert!(loaded.get(&old).is_some());
        assert_eq!(loaded.kids(), vec![new.as_str(), old.as_str()]);
        assert!(matches!(
            loaded.remove(&new),
            Err(KeyError::RemoveActive(_))
        ));
        loaded.remove(&old).unwrap();
        assert!(loaded.get(&old).is_none());
        assert_eq!(loaded.active().kid(), new);
    }

    #[test]
    fn add_then_activate() {
        let mut set = KeySet::generate();
        let first = set.active().kid().to_owned();
        let added = set.add();
        assert_eq!(set.active().kid(), first);
        assert!(set.get(&added).is_some());
        set.activate(&added).unwrap();
        assert_eq!(set.active().kid(), added);
        assert!(set.get(&first).is_some());
        assert!(matches!(set.activate("nope"), Err(KeyError::UnknownKid(_))));
    }

    #[test]
    fn debug_and_errors_never_show_secrets() {
        let set = KeySet::generate();
        let shown = format!("{set:?}");
        let secret = STANDARD.encode(set.active().signing_secret());
        let derivation = STANDARD.encode(set.active().derivation_key());
        assert!(!shown.contains(&secret) && !shown.contains(&derivation));
        assert!(!shown.contains(&hex::encode(set.active().signing_secret())));
        let err = KeySet::from_json(b"{\"version\":1,\"active\":\"a\",\"keys\":[{\"kid\":\"a\",\"created\":0,\"signing_secret\":\"c2VjcmV0\",\"derivation_secret\":\"x\"}]}").unwrap_err();
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_group_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        KeySet::load_or_generate(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeySet::load(&path),
            Err(KeyError::Permissions { .. })
        ));
    }

    #[test]
    fn rejects_malformed_files() {
        assert!(KeySet::from_json(b"{}").is_err());
        assert!(KeySet::from_json(b"{\"version\":1,\"active\":\"x\",\"keys\":[]}").is_err());
        let set = KeySet::generate();
        let mut json: serde_json::Value = serde_json::from_slice(&set.to_json().unwrap()).unwrap();
        json["extra"] = serde_json::Value::Bool(true);
        assert!(KeySet::from_json(&serde_json::to_vec(&json).unwrap()).is_err());
    }
}
