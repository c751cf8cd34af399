//! The code snapshot of a run: the project folder as a deterministic `.tar.gz`
//! (sorted paths, zero times and owners), stored in the lake's object store next
//! to the data, so `sluice rerun` can restore exactly the code that ran.

use std::io::Read;
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::error::{Result, RuntimeError};

/// Folders never archived: hidden ones (`.git`, `.sluice`, `.venv`), caches and
/// build output.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "__pycache__" || name == "target" || name == "node_modules"
}

/// The largest project folder a run archives.
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The archive bytes, their SHA-256 and the number of files.
pub fn pack(root: &Path) -> Result<(Vec<u8>, String, usize)> {
    let io = |path: &Path, e: std::io::Error| RuntimeError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut entries = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !skipped(&e.file_name().to_string_lossy()));
    for entry in walker {
        let entry = entry.map_err(|e| RuntimeError::Io {
            path: e.path().unwrap_or(root).to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap_or(entry.path())
                .to_path_buf();
            entries.push((rel, entry.path().to_path_buf()));
        }
    }
    let mut total = 0u64;
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (rel, path) in &entries {
        let data = std::fs::read(path).map_err(|e| io(path, e))?;
        total += data.len() as u64;
        if total > MAX_BYTES {
            return Err(RuntimeError::Project(format!(
                "the project folder {} holds more than {} MiB of files; a run archives its code, keep data out of it",
                root.display(),
                MAX_BYTES >> 20
            )));
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, rel, data.as_slice())
            .map_err(|e| io(path, e))?;
    }
    let gz = builder.into_inner().map_err(|e| io(root, e))?;
    let bytes = gz.finish().map_err(|e| io(root, e))?;
    let hash = hex(&Sha256::digest(&bytes));
    Ok((bytes, hash, entries.len()))
}

/// Unpacks an archive made by [`pack`] into `dest`.
pub fn unpack(bytes: &[u8], dest: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    // `unpack` refuses paths that leave `dest`.
    archive.unpack(dest).map_err(|e| RuntimeError::Io {
        path: dest.to_path_buf(),
        source: e,
    })
}

/// The SHA-256 of a file's bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads every file of an archive (for tests and `sluice runs show --files`).
pub fn list(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let mut out = Vec::new();
    let err = |e: std::io::Error| RuntimeError::Io {
        path: "code.tar.gz".into(),
        source: e,
    };
    for entry in archive.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        let path = entry.path().map_err(err)?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(err)?;
        out.push((path, data));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_is_deterministic_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models/__pycache__")).unwrap();
        std::fs::create_dir_all(dir.path().join(".venv")).unwrap();
        std::fs::write(dir.path().join("schemas.py"), "x = 1\n").unwrap();
        std::fs::write(dir.path().join("models/a.sql"), "SELECT 1\n").unwrap();
        std::fs::write(dir.path().join("models/__pycache__/a.pyc"), "junk").unwrap();
        std::fs::write(dir.path().join(".venv/junk"), "junk").unwrap();
        let (a, hash_a, n) = pack(dir.path()).unwrap();
        let (_, hash_b, _) = pack(dir.path()).unwrap();
        assert_eq!(hash_a, hash_b);
        assert_eq!(n, 2);
        let files = list(&a).unwrap();
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["models/a.sql", "schemas.py"]);
        let out = tempfile::tempdir().unwrap();
        unpack(&a, out.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("models/a.sql")).unwrap(),
            "SELECT 1\n"
        );
    }
}
