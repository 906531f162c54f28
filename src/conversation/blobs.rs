//! Content-addressed blobs (image bytes) in the data dir: `blobs/sha256/ab/ab12…`. A blob is
//! written once, atomically, and never changed; a conversation names it by its sha256, so it
//! reopens, exports and replays after the original file moved.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Blobs {
    /// The data dir (blob paths are relative to it).
    root: PathBuf,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The blob path of a sha256, relative to the data dir.
pub fn relative_path(sha256: &str) -> String {
    format!("blobs/sha256/{}/{sha256}", &sha256[..2.min(sha256.len())])
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Blobs {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Blobs {
            root: data_dir.into(),
        }
    }

    /// Stores `bytes` (if not stored yet) and returns (sha256, path relative to the data dir).
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<(String, String)> {
        let sha = sha256_hex(bytes);
        let rel = relative_path(&sha);
        let path = self.root.join(&rel);
        if path.exists() {
            return Ok((sha, rel));
        }
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{sha}.tmp-{}", crate::util::random_hex()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok((sha, rel))
    }

    /// The bytes of the blob `sha256`, checked against it: a blob that was changed or cut
    /// short is refused, never sent.
    pub fn get(&self, sha256: &str) -> Result<Arc<[u8]>, String> {
        if !is_sha256(sha256) {
            return Err(format!("{sha256:?} is not a sha256"));
        }
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{} is missing (the image's bytes were deleted from the data dir)",
                path.display()
            ),
            _ => format!("{}: {e}", path.display()),
        })?;
        if sha256_hex(&bytes) != sha256 {
            return Err(format!(
                "{} does not match its sha256 (changed or damaged on disk)",
                path.display()
            ));
        }
        Ok(bytes.into())
    }

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(relative_path(sha256))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_content_addressed_and_checked() {
        let dir = std::env::temp_dir().join(format!("charla-blobs-{}", crate::util::random_hex()));
        let b = Blobs::new(&dir);
        let (sha, rel) = b.put(b"hello").expect("put");
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(rel, format!("blobs/sha256/2c/{sha}"));
        assert_eq!(b.put(b"hello").expect("again").0, sha, "stored once");
        assert_eq!(&*b.get(&sha).expect("get"), b"hello");
        std::fs::write(b.path(&sha), b"hellO").expect("damage");
        assert!(b.get(&sha).expect_err("damaged").contains("does not match"));
        assert!(b.get("../../etc/passwd").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
