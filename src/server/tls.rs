//! TLS for `gitiam serve`: the configured PEM certificate and key, or a
//! self-signed certificate for `localhost`, `127.0.0.1` and `::1` generated
//! once under `STATE_DIR/tls/` and reused, so that clients can pin it
//! (`http.sslCAInfo`) across restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::shared::config::TlsFiles;
use crate::shared::secret_file::{self, Create};

/// Names the generated certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file cannot be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The self-signed certificate cannot be generated or written.
    #[error("cannot create a self-signed certificate in {path}: {message}")]
    Generate {
        /// The folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// rustls refused the certificate and key.
    #[error("{cert} and {key}: {source}")]
    Rustls {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
}

/// The certificate files to serve: the configured ones, or the self-signed
/// pair under `state_dir/tls/` (generated when absent).
pub fn certificate_files(
    configured: Option<&TlsFiles>,
    state_dir: &Path,
) -> Result<TlsFiles, TlsError> {
    match configured {
        Some(files) => Ok(files.clone()),
        None => ensure_self_signed(&state_dir.join("tls")),
    }
}

/// Returns `dir/{cert,key}.pem`, generating them if either is missing. The
/// key is written with mode 0600.
pub fn ensure_self_signed(dir: &Path) -> Result<TlsFiles, TlsError> {
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    if files.cert.is_file() && files.key.is_file() {
        return Ok(files);
    }
    let gen_err = |message: String| TlsError::Generate {
        path: dir.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| gen_err(e.to_string()))?;
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| (*s).to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| gen_err(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gitiam self-signed (localhost)");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let key = rcgen::KeyPair::generate().map_err(|e| gen_err(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| gen_err(e.to_string()))?;
    secret_file::write(&files.key, key.serialize_pem().as_bytes(), Create::Truncate)
        .map_err(|e| gen_err(e.to_string()))?;
    std::fs::write(&files.cert, cert.pem()).map_err(|e| gen_err(e.to_string()))?;
    Ok(files)
}

/// A rustls server configuration for `files`, offering HTTP/1.1 and, with
/// `http2`, HTTP/2 (preferred by clients that speak it).
pub fn server_config(files: &TlsFiles, http2: bool) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let file_err = |path: &Path, message: String| TlsError::File {
        path: path.to_path_buf(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| file_err(&files.cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err(&files.cert, "no PEM certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| file_err(&files.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rustls_err = |source| TlsError::Rustls {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rustls_err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(rustls_err)?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let files = ensure_self_signed(&tls).unwrap();
        let first = std::fs::read(&files.cert).unwrap();
        assert!(server_config(&files, true).is_ok());
        let again = ensure_self_signed(&tls).unwrap();
        assert_eq!(
            std::fs::read(&again.cert).unwrap(),
            first,
            "reused, not regenerated"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not pem").unwrap();
        let err = server_config(
            &TlsFiles {
                cert: cert.clone(),
                key: dir.path().join("k.pem"),
            },
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with(&cert.display().to_string()),
            "{err}"
        );
    }
}
