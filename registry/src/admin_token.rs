//! The deployment's admin token: `REVSTREAM_ADMIN_TOKEN`, or generated on
//! first start into `<data-dir>/admin-token` (mode 0600).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::write_private_file;
use crate::{Error, Result};

pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The token, and the file it lives in when it was not given by the
/// environment (so start-up can say where to find it).
#[derive(Clone)]
pub struct AdminToken {
    pub token: String,
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("token", &"<redacted>")
            .field("file", &self.file)
            .finish()
    }
}

impl AdminToken {
    pub fn load_or_create(env_value: Option<&str>, data_dir: &Path) -> Result<Self> {
        if let Some(token) = env_value.map(str::trim).filter(|t| !t.is_empty()) {
            if token.len() < 16 {
                return Err(Error::Invalid {
                    field: "REVSTREAM_ADMIN_TOKEN",
                    problem: "must be at least 16 characters".into(),
                });
            }
            return Ok(Self {
                token: token.to_owned(),
                file: None,
            });
        }
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        let token = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::getrandom(&mut bytes)
                    .map_err(|e| Error::MasterKey(format!("no randomness: {e}")))?;
                let token = format!("rsa_{}", URL_SAFE_NO_PAD.encode(bytes));
                write_private_file(&path, token.as_bytes()).map_err(|e| {
                    Error::MasterKey(format!("cannot write {}: {e}", path.display()))
                })?;
                token
            }
            Err(e) => {
                return Err(Error::MasterKey(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        if token.is_empty() {
            return Err(Error::Invalid {
                field: "admin-token file",
                problem: format!("{} is empty", path.display()),
            });
        }
        Ok(Self {
            token,
            file: Some(path),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = AdminToken::load_or_create(None, dir.path()).unwrap();
        let b = AdminToken::load_or_create(None, dir.path()).unwrap();
        assert_eq!(a.token, b.token);
        assert!(a.token.starts_with("rsa_"));
        assert_eq!(
            a.file.as_deref(),
            Some(dir.path().join(ADMIN_TOKEN_FILE).as_path())
        );
        let env = AdminToken::load_or_create(Some("from-the-environment-123"), dir.path()).unwrap();
        assert_eq!(env.token, "from-the-environment-123");
        assert!(env.file.is_none());
        assert!(AdminToken::load_or_create(Some("short"), dir.path()).is_err());
    }
}
