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
    &["serve", "--port", "0"],
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

/// Issue 14 leftover: a write that fails creates no lake (only a successful write or
/// `sluice init` may), whether the lake's folder is missing or exists empty.
#[test]
fn a_failing_write_creates_no_lake() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.py"), "def f(:\n").unwrap();
    std::fs::create_dir(dir.path().join("clean")).unwrap();
    let failing: &[&[&str]] = &[
        &["import", "missing.csv", "--table", "t"],
        &["merge", "nope", "--into", "main"],
        &["revert", "t", "--to", "nope", "--into", "main"],
        &["branch", "create", "dev", "--from", "nope"],
        &["tag", "create", "v1", "--from", "nope"],
        &["run", "."],
        &["run", "--ref", "nope", "clean"],
    ];
    for args in failing {
        for lake in ["new/lake", "empty"] {
            if lake == "empty" {
                std::fs::create_dir_all(dir.path().join("empty")).unwrap();
            }
            let mut all = args.to_vec();
            all.extend(["--lake", lake]);
            let out = sluice_in(dir.path(), &all);
            assert_ne!(
                out.status.code(),
                Some(0),
                "sluice {all:?}: {}",
                stderr(&out)
            );
            assert!(
                !dir.path().join("new").exists(),
                "sluice {all:?} created a lake: {:?}",
                tree(dir.path())
            );
            if lake == "empty" {
                assert_eq!(
                    tree(&dir.path().join("empty")),
                    Vec::<String>::new(),
                    "sluice {all:?}"
                );
            }
        }
    }
    // The same import, once it can succeed, creates the lake.
    std::fs::write(dir.path().join("t.csv"), "id\n1\n").unwrap();
    let out = sluice_in(
        dir.path(),
        &["import", "t.csv", "--table", "t", "--lake", "new/lake"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("new/lake/catalog.db").is_file());
}

/// Issue 14 leftover: from a subfolder of a project, a defaulted DIR and the lake
/// commands find the nearest `sluice.toml` upward (as git and cargo do), for the
/// project and its `lake`/`ref`; an explicit DIR is taken as given.
#[test]
fn commands_in_a_subfolder_find_the_project_upward() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("proj");
    let fixture =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/run/orders");
    std::fs::create_dir_all(project.join("sub/deeper")).unwrap();
    for f in ["schemas.py", "customer_totals.sql", "country_totals.sql"] {
        std::fs::copy(fixture.join(f), project.join(f)).unwrap();
    }
    std::fs::write(
        project.join("sluice.toml"),
        "lake = \"lakes/main\"\nref = \"dev\"\n\n[project]\nname = \"p\"\n",
    )
    .unwrap();
    let csv = fixture.join("../data/orders.csv");
    let deeper = project.join("sub/deeper");

    // The lake commands use the project's lake and ref.
    let out = sluice_in(&deeper, &["branch", "create", "dev", "--from", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sluice_in(
        &deeper,
        &["import", csv.to_str().unwrap(), "--table", "orders"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("on dev"), "{}", stdout(&out));
    assert!(project.join("lakes/main/catalog.db").is_file());
    assert!(!deeper.join(".sluice").exists());
    assert!(!deeper.join("lakes").exists());

    // check and run without DIR: the whole project.
    let out = sluice_in(&deeper, &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["summary"]["nodes"].as_u64().unwrap() >= 2,
        "{report}"
    );
    let out = sluice_in(&deeper, &["run", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["target"], "dev", "{run}");
    assert_eq!(run["nodes"].as_array().unwrap().len(), 2, "{run}");
    let out = sluice_in(&deeper, &["table", "list", "--format", "json"]);
    assert!(stdout(&out).contains("country_totals"), "{}", stdout(&out));

    // An explicit DIR is the project, as given: this one has no tables.
    let out = sluice_in(&deeper, &["check", ".", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["nodes"], 0, "{report}");
}
