//! The `sluice` Python package (`std-schemas/src/sluice/`), embedded in the binary so
//! that a `sluice` executable is self-contained: every environment gets this exact copy.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

macro_rules! package_files {
    ($($name:literal),* $(,)?) => {
        /// `(file name, contents)` of every file of the embedded `sluice` package.
        pub const PACKAGE_FILES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../std-schemas/src/sluice/", $name))),)*
        ];
    };
}

// The one list of the package's files; `tests::every_package_file_is_embedded`
// fails when a file of the folder is missing here.
package_files![
    "__init__.py",
    "_bauplan.py",
    "_bauplan_expectations.py",
    "_loader.py",
    "_worker.py",
    "decorators.py",
    "dtypes.py",
    "expr.py",
    "py.typed",
    "schema.py",
];

/// SHA-256 (hex) of the embedded package: file names and contents.
pub fn package_digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| {
        let mut hasher = Sha256::new();
        for (name, contents) in PACKAGE_FILES {
            hasher.update((name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update((contents.len() as u64).to_le_bytes());
            hasher.update(contents.as_bytes());
        }
        hex(&hasher.finalize())
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_package_file_is_embedded() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../std-schemas/src/sluice");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".py") || n == "py.typed")
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = PACKAGE_FILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            embedded, on_disk,
            "runtime/src/python/embedded.rs must list every file of std-schemas/src/sluice"
        );
        for (name, contents) in PACKAGE_FILES {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *contents);
        }
    }

    #[test]
    fn digest_is_stable_hex() {
        assert_eq!(package_digest().len(), 64);
        assert_eq!(package_digest(), package_digest());
    }
}
