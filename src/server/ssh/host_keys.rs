//! The server's host keys: the configured OpenSSH private keys, or an
//! ed25519 key generated on first start at `STATE_DIR/ssh/host_ed25519_key`
//! (owner-only, 0600) and reused afterwards, so clients' `known_hosts`
//! entries stay valid across restarts.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};

use crate::shared::config::ServerConfig;
use crate::shared::config::ssh::DEFAULT_HOST_KEY;
use crate::shared::secret_file;

/// Why the host keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// The file cannot be read or written.
    #[error("host key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an unencrypted OpenSSH private key.
    #[error("host key {path}: not an unencrypted OpenSSH private key ({message})")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (never key material).
        message: String,
    },
}

/// The host keys `[server]` asks for, generating the default one if needed.
pub fn load(server: &ServerConfig) -> Result<Vec<PrivateKey>, HostKeyError> {
    if server.ssh.host_keys.is_empty() {
        let path = server.state_dir.join(DEFAULT_HOST_KEY);
        return Ok(vec![load_or_generate(&path)?]);
    }
    server.ssh.host_keys.iter().map(|p| read(p)).collect()
}

/// `SHA256:...` of a host key's public half.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

fn read(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostKeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let key = PrivateKey::from_openssh(&text).map_err(|e| HostKeyError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if key.is_encrypted() {
        return Err(HostKeyError::Parse {
            path: path.to_path_buf(),
            message: "the key is encrypted".into(),
        });
    }
    Ok(key)
}

/// Reads the key at `path`, or creates it (ed25519, 0600) if it is missing.
pub fn load_or_generate(path: &Path) -> Result<PrivateKey, HostKeyError> {
    if path.exists() {
        return read(path);
    }
    let io = |source| HostKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let seed: [u8; 32] = rand::random();
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    match secret_file::write(path, text.as_bytes(), secret_file::Create::New) {
        Ok(()) => Ok(key),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh/host_ed25519_key");
        let a = load_or_generate(&path).unwrap();
        let b = load_or_generate(&path).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "nonsense").unwrap();
        assert!(matches!(
            load_or_generate(&path),
            Err(HostKeyError::Parse { .. })
        ));
    }
}
