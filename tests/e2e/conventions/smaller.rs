//! Item 15 (part): `merge -m` on a fast-forward makes a merge commit; the author
//! falls back from SLUICE_AUTHOR to git's user.name to $USER; `query` on an unknown
//! table exits 2 naming it; `REF~N` ref syntax.

use std::path::Path;

use serde_json::Value;

use crate::{command, stderr, stdout, support};

/// A lake with `n` commits on main after the root (each an append to `t`).
fn lake_with_commits(dir: &Path, n: usize) -> std::path::PathBuf {
    let lake = dir.join("lake");
    for i in 0..n {
        let csv = dir.join(format!("t{i}.csv"));
        std::fs::write(&csv, format!("k\n{i}\n")).unwrap();
        let mode = if i == 0 { "create" } else { "append" };
        support::ok_json(
            &lake,
            &[
                "import",
                csv.to_str().unwrap(),
                "--table",
                "t",
                "--mode",
                mode,
            ],
        );
    }
    lake
}

#[test]
fn ancestor_steps_walk_first_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_commits(tmp.path(), 4);
    let log = support::ok_json(&lake, &["log"]);
    let hashes: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes.len(), 5, "4 imports and the root");
    support::ok_json(&lake, &["tag", "create", "v1"]);
    for (n, hash) in hashes.iter().enumerate() {
        for spelling in [format!("main~{n}"), format!("v1~{n}")] {
            assert_eq!(&support::head(&lake, &spelling), hash, "{spelling}");
        }
    }
    assert_eq!(support::head(&lake, "main~"), hashes[1]);
    assert_eq!(support::head(&lake, "main~1~2"), hashes[3]);
    // Reading a table as of an ancestor.
    let rows = support::ok_json(
        &lake,
        &["query", "SELECT count(*) AS n FROM t", "--ref", "main~2"],
    );
    assert_eq!(rows[0]["n"], 2);
    // Past the root, malformed, or with no ref before it: a located usage error.
    for bad in ["main~5", "main~x", "~1"] {
        let (out, v) = support::json(&lake, &["log", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert_eq!(v["error"]["kind"], "invalid_ref", "{bad}");
    }
    // An ancestor is read-only.
    let (out, v) = support::json(
        &lake,
        &["import", "t0.csv", "--table", "u", "--branch", "main~1"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(v["error"]["kind"], "read_only");
}

#[test]
fn merge_with_a_message_makes_a_merge_commit_even_when_it_could_fast_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_commits(tmp.path(), 1);
    support::ok_json(&lake, &["branch", "create", "dev"]);
    let csv = tmp.path().join("more.csv");
    std::fs::write(&csv, "k\n9\n").unwrap();
    support::ok_json(
        &lake,
        &[
            "import",
            csv.to_str().unwrap(),
            "--table",
            "t",
            "--mode",
            "append",
            "--branch",
            "dev",
        ],
    );
    let out = support::ok_json(&lake, &["merge", "dev", "--into", "main", "-m", "ship dev"]);
    assert_eq!(out["kind"], "merged", "{out}");
    let log = support::ok_json(&lake, &["log", "main", "--limit", "1"]);
    assert_eq!(log[0]["message"], "ship dev");
    assert_eq!(log[0]["parents"].as_array().unwrap().len(), 2);
    // Without a message it fast-forwards.
    support::ok_json(&lake, &["branch", "create", "dev2"]);
    std::fs::write(&csv, "k\n10\n").unwrap();
    support::ok_json(
        &lake,
        &[
            "import",
            csv.to_str().unwrap(),
            "--table",
            "t",
            "--mode",
            "append",
            "--branch",
            "dev2",
        ],
    );
    let out = support::ok_json(&lake, &["merge", "dev2", "--into", "main"]);
    assert_eq!(out["kind"], "fast_forward", "{out}");
}

#[test]
fn query_on_an_unknown_table_names_it_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_commits(tmp.path(), 1);
    for (sql, table) in [
        ("SELECT * FROM ordrs", "ordrs"),
        (
            "SELECT * FROM t JOIN crm.customers c ON true",
            "crm.customers",
        ),
    ] {
        let out = support::sluice(&lake, &["query", sql]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(
            err.trim(),
            format!("error: table `{table}` does not exist at `main`"),
            "{sql}"
        );
        assert!(!err.contains("datafusion"), "{err}");
    }
    // CTEs are not tables; other planning errors keep their own message, exit 1.
    let out = support::sluice(
        &lake,
        &["query", "WITH x AS (SELECT 1 AS a) SELECT a FROM x"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = support::sluice(&lake, &["query", "SELECT nope FROM t"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// The author of the commit an import makes in a fresh lake, with `env` set (or
/// removed) and `home` as the home folder git reads its configuration from.
fn author_with(env: &[(&str, Option<&str>)], home: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("a.csv");
    std::fs::write(&csv, "k\n1\n").unwrap();
    let mut import = command(tmp.path(), &["import", "a.csv", "--table", "a"]);
    import
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_CONFIG_GLOBAL");
    for (k, v) in env {
        match v {
            Some(v) => import.env(k, v),
            None => import.env_remove(k),
        };
    }
    let out = import.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = command(tmp.path(), &["log", "--limit", "1", "--format", "json"])
        .output()
        .unwrap();
    let v: Value =
        serde_json::from_slice(&log.stdout).unwrap_or_else(|_| panic!("{}", stdout(&log)));
    v[0]["author"].as_str().unwrap().to_string()
}

#[test]
fn the_author_falls_back_to_git_then_user() {
    if std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: git is not installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".gitconfig"),
        "[user]\n\tname = Grace Hopper\n",
    )
    .unwrap();
    let empty_home = tempfile::tempdir().unwrap();
    assert_eq!(
        author_with(
            &[("SLUICE_AUTHOR", Some("ada")), ("USER", Some("u"))],
            home.path()
        ),
        "ada"
    );
    assert_eq!(
        author_with(&[("SLUICE_AUTHOR", None), ("USER", Some("u"))], home.path()),
        "Grace Hopper"
    );
    assert_eq!(
        author_with(
            &[("SLUICE_AUTHOR", None), ("USER", Some("u"))],
            empty_home.path()
        ),
        "u"
    );
}
