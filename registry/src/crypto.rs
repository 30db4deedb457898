//! Encryption at rest for webhook secrets and provider credentials.
//!
//! AES-256-GCM with a random 96-bit nonce per value; the stored form is
//! base64(nonce ‖ ciphertext ‖ tag). The associated data names the row
//! (tenant and source), so a ciphertext copied onto another tenant's row
//! does not decrypt.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::{Error, Result};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// File name of the generated key inside the data dir.
pub(crate) const MASTER_KEY_FILE: &str = "master.key";

/// The 256-bit key that seals every stored secret.
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Parses 32 bytes given as base64 or 64 hex characters (the form of
    /// `REVSTREAM_MASTER_KEY`).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| Error::MasterKey(e.to_string()))?
        } else {
            B64.decode(text).map_err(|_| {
                Error::MasterKey("must be 32 bytes as base64 or 64 hex characters".into())
            })?
        };
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| Error::MasterKey(format!("must be 32 bytes, got {}", b.len())))?;
        Ok(Self(key))
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut key = [0u8; KEY_LEN];
        getrandom::getrandom(&mut key).map_err(|e| Error::MasterKey(e.to_string()))?;
        Ok(Self(key))
    }

    /// `REVSTREAM_MASTER_KEY` when given (`env_value`), else the key file in
    /// the data dir, generated (mode 0600) on first use.
    pub fn load_or_create(env_value: Option<&str>, data_dir: &Path) -> Result<Self> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            return Self::parse(v);
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                write_private_file(&path, B64.encode(key.0).as_bytes()).map_err(|e| {
                    Error::MasterKey(format!("cannot write {}: {e}", path.display()))
                })?;
                Ok(key)
            }
            Err(e) => Err(Error::MasterKey(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    pub(crate) fn seal(&self, plaintext: &[u8], context: &str) -> Result<String> {
        let cipher = Aes256Gcm::new_from_slice(&self.0).map_err(|_| Error::Decrypt)?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|e| Error::MasterKey(e.to_string()))?;
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Decrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(B64.encode(out))
    }

    pub(crate) fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>> {
        let bytes = B64.decode(sealed).map_err(|_| Error::Decrypt)?;
        if bytes.len() < NONCE_LEN {
            return Err(Error::Decrypt);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new_from_slice(&self.0).map_err(|_| Error::Decrypt)?;
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Decrypt)
    }
}

/// Creates a file readable only by its owner, failing if it exists (so two
/// processes starting at once cannot each write a different key).
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.seal(b"whsec_abc", "acme/stripe").unwrap();
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(key.open(&sealed, "acme/stripe").unwrap(), b"whsec_abc");
        assert!(key.open(&sealed, "other/stripe").is_err());
        let other = MasterKey::generate().unwrap();
        assert!(other.open(&sealed, "acme/stripe").is_err());
    }

    #[test]
    fn master_keys_parse_from_hex_or_base64() {
        let hex_key = "00".repeat(32);
        assert!(MasterKey::parse(&hex_key).is_ok());
        assert!(MasterKey::parse(&B64.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert!(MasterKey::parse(&B64.encode([7u8; 16])).is_err());
    }

    #[test]
    fn generated_key_file_is_reused_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load_or_create(None, dir.path()).unwrap();
        let b = MasterKey::load_or_create(None, dir.path()).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
