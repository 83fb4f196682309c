//! The admin API's bearer token: where it comes from (configuration, or a
//! random one generated on first start and kept in the data directory with
//! mode 0600) and the constant-time check of `Authorization` headers.
//! Not for transport security: keep the admin port on loopback or behind
//! a TLS proxy.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::RuntimeError;

/// Name of the generated token's file inside the data directory.
pub const TOKEN_FILE: &str = "admin-token";

/// The admin bearer token. Its `Debug` output never shows the value.
#[derive(Clone)]
pub struct AdminToken(String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// A token from configuration; it must be non-empty visible ASCII so
    /// that it fits an HTTP header.
    pub fn new(value: &str) -> Result<AdminToken, RuntimeError> {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(RuntimeError::Config(
                "the admin token must be non-empty printable ASCII without spaces".into(),
            ));
        }
        if value.len() < 16 {
            tracing::warn!("the admin token is shorter than 16 characters: use a longer random one");
        }
        Ok(AdminToken(value.to_string()))
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn accepts(&self, header: Option<&http::HeaderValue>) -> bool {
        let Some(value) = header.and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(token.trim().as_bytes(), self.0.as_bytes())
    }

    /// The token's value, for clients that send it.
    pub fn value(&self) -> &str {
        &self.0
    }
}

/// Compares without an early exit, so response time does not tell how many
/// leading bytes of a guess were right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// Where the token in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `ISLET_ADMIN_TOKEN` or `[admin] token` in the config file.
    Configured,
    /// The data directory's token file; `created` on this start.
    File {
        /// The file.
        path: PathBuf,
        /// Whether this start generated it.
        created: bool,
    },
}

/// The token to require: the configured one, or the one in
/// `<data_dir>/admin-token`, generated there on first start.
pub fn resolve(configured: Option<&str>, data_dir: &Path) -> Result<(AdminToken, TokenSource), RuntimeError> {
    if let Some(value) = configured {
        return Ok((AdminToken::new(value)?, TokenSource::Configured));
    }
    let path = data_dir.join(TOKEN_FILE);
    match read_token_file(&path)? {
        Some(token) => Ok((token, TokenSource::File { path, created: false })),
        None => {
            let token = generate()?;
            match write_token_file(&path, &token) {
                Ok(()) => Ok((AdminToken(token), TokenSource::File { path, created: true })),
                // Another process created it between our read and write.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let token = read_token_file(&path)?.ok_or_else(|| {
                        RuntimeError::Config(format!("{} is empty: delete it to get a new token", path.display()))
                    })?;
                    Ok((token, TokenSource::File { path, created: false }))
                }
                Err(e) => Err(RuntimeError::io(&path, e)),
            }
        }
    }
}

/// Reads a token file; `None` when there is none.
pub fn read_token_file(path: &Path) -> Result<Option<AdminToken>, RuntimeError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RuntimeError::io(path, e)),
    };
    tighten_permissions(path);
    if text.trim().is_empty() {
        return Err(RuntimeError::Config(format!(
            "{} is empty: delete it to get a new token, or set ISLET_ADMIN_TOKEN",
            path.display()
        )));
    }
    AdminToken::new(&text).map(Some)
}

#[cfg(unix)]
fn tighten_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "the admin token file was readable by others; setting mode 0600");
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
    }
}

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path) {}

fn generate() -> Result<String, RuntimeError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        RuntimeError::Config(format!(
            "no OS randomness to generate the admin token ({e}): set ISLET_ADMIN_TOKEN instead"
        ))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_token_file(path: &Path, token: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_is_checked() {
        let token = AdminToken::new("0123456789abcdef0123").unwrap();
        let ok = http::HeaderValue::from_static("Bearer 0123456789abcdef0123");
        let lower = http::HeaderValue::from_static("bearer 0123456789abcdef0123");
        let wrong = http::HeaderValue::from_static("Bearer 0123456789abcdef012");
        let basic = http::HeaderValue::from_static("Basic 0123456789abcdef0123");
        assert!(token.accepts(Some(&ok)));
        assert!(token.accepts(Some(&lower)));
        assert!(!token.accepts(Some(&wrong)));
        assert!(!token.accepts(Some(&basic)));
        assert!(!token.accepts(None));
        assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
    }

    #[test]
    fn generated_token_is_kept_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("islet-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (first, source) = resolve(None, &dir).unwrap();
        assert!(matches!(source, TokenSource::File { created: true, .. }));
        assert_eq!(first.value().len(), 64);
        let (again, source) = resolve(None, &dir).unwrap();
        assert!(matches!(source, TokenSource::File { created: false, .. }));
        assert_eq!(first.value(), again.value());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(TOKEN_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
