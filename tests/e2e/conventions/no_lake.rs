//! Item: read-only commands never create a lake; the lake and default ref of
//! `sluice.toml` are honoured (flag > env > sluice.toml > default).

use std::path::Path;

use crate::{command, sluice_in, stderr, stdout};

/// Every file and folder under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push(name.clone());
        if entry.file_type().unwrap().is_dir() {
            out.extend(
                tree(&entry.path())
                    .into_iter()
                    .map(|n| format!("{name}/{n}")),
            );
        }
    }
    out.sort();
    out
}

const READS: &[&[&str]] = &[
    &["log"],
    &["log", "--format", "json"],
    &["branch", "list"],
    &["branch", "delete", "dev"],
    &["tag", "list"],
    &["tag", "delete", "v1"],
    &["table", "list"],
    &["table", "show", "orders"],
    &["query", "SELECT 1"],
    &["diff", "main", "main"],
    &["fsck"],
    &["gc"],
    &["runs"],
    &["runs", "show", "abc"],
    &["rerun", "abc"],
];

#[test]
fn read_only_commands_in_an_empty_folder_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in READS {
        let out = sluice_in(dir.path(), args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "sluice {args:?}: {err}");
        assert!(
            err.contains("no lake at ./.sluice (set --lake or SLUICE_LAKE, or run `sluice init`)"),
            "sluice {args:?}: {err}"
        );
        assert_eq!(tree(dir.path()), Vec::<String>::new(), "sluice {args:?}");
    }
    // JSON callers get the error kind.
    let out = sluice_in(dir.path(), &["log", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "no_lake");
}

#[test]
fn a_named_lake_that_does_not_exist_is_named_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice_in(dir.path(), &["log", "--lake", "elsewhere/lake"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no lake at elsewhere/lake"),
        "{}",
        stderr(&out)
    );
    let out = command(dir.path(), &["table", "list"])
        .env("SLUICE_LAKE", "from-env")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no lake at from-env"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(dir.path()), Vec::<String>::new());
}

#[test]
fn writes_create_the_lake_then_reads_find_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice_in(dir.path(), &["branch", "create", "dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join(".sluice/catalog.db").is_file());
    let out = sluice_in(dir.path(), &["branch", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("dev"), "{}", stdout(&out));
}

#[test]
fn sluice_toml_names_the_lake_and_the_default_ref_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sluice.toml"),
        "lake = \"lakes/shared\"\nref = \"dev\"\n\n[project]\nname = \"t\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("people.csv"), "id,name\n1,ada\n2,alan\n").unwrap();
    // A read before any write: the lake sluice.toml names does not exist.
    let out = sluice_in(dir.path(), &["log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("lakes/shared (set --lake"),
        "{}",
        stderr(&out)
    );
    // Branch dev from main, then import with no --branch: it lands on dev.
    let out = sluice_in(dir.path(), &["branch", "create", "dev", "--from", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("lakes/shared/catalog.db").is_file());
    assert!(!dir.path().join(".sluice").exists());
    let out = sluice_in(dir.path(), &["import", "people.csv", "--table", "people"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("on dev"), "{}", stdout(&out));
    let out = sluice_in(dir.path(), &["query", "SELECT count(*) AS n FROM people"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("| 2 |"), "{}", stdout(&out));
    // main does not have it; the flag beats sluice.toml's ref.
    let out = sluice_in(
        dir.path(),
        &["table", "list", "--ref", "main", "--format", "json"],
    );
    assert_eq!(stdout(&out).trim(), "[]");
    // SLUICE_LAKE beats sluice.toml; --lake beats SLUICE_LAKE.
    let out = command(dir.path(), &["log"])
        .env("SLUICE_LAKE", "nowhere")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("no lake at nowhere"),
        "{}",
        stderr(&out)
    );
    let out = command(dir.path(), &["log", "--lake", "lakes/shared"])
        .env("SLUICE_LAKE", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_malformed_sluice_toml_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sluice.toml"), "\n\nlake = 3\n").unwrap();
    let out = sluice_in(dir.path(), &["log"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("sluice.toml:3:"), "{err}");
}
