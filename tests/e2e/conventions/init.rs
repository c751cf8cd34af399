//! Item: `sluice init` scaffolds a project that checks clean and runs; it never
//! overwrites; `sluice completions` prints clap_complete's scripts.

use crate::{sluice_in, stderr, stdout};

#[test]
fn init_with_a_lake_checks_clean_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = sluice_in(tmp.path(), &["init", "shop", "--lake"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let project = tmp.path().join("shop");
    for f in [
        "sluice.toml",
        "schemas.py",
        "customer_totals.sql",
        "shares.py",
        "data/orders.csv",
    ] {
        assert!(project.join(f).is_file(), "{f}");
    }
    assert!(project.join(".sluice/catalog.db").is_file());
    let check = sluice_in(&project, &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(
        stdout(&check).starts_with("0 errors, 0 warnings"),
        "{}",
        stdout(&check)
    );
    // The lake is found through sluice.toml, from the project folder and from outside.
    let run = sluice_in(&project, &["run", "--format", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let rec: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(rec["status"], "succeeded");
    let kinds: Vec<&str> = rec["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sql", "python"]);
    let q = sluice_in(
        &project,
        &[
            "query",
            "SELECT round(sum(share), 6) AS s FROM shares",
            "--format",
            "csv",
        ],
    );
    assert_eq!(stdout(&q).trim(), "s\n1.0", "{}", stderr(&q));
}

#[test]
fn init_without_a_lake_creates_none_and_says_how_to_load_the_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let out = sluice_in(tmp.path(), &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(tmp.path().join("sluice.toml").is_file());
    assert!(!tmp.path().join(".sluice").exists());
    assert!(
        stdout(&out).contains("sluice import data/orders.csv --table orders"),
        "{}",
        stdout(&out)
    );
    let check = sluice_in(tmp.path(), &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("schemas.py"), "# mine\n").unwrap();
    let out = sluice_in(tmp.path(), &["init", "--lake"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("would overwrite ./schemas.py"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("schemas.py")).unwrap(),
        "# mine\n"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the user's file remains");
    // An existing lake is not overwritten either.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join(".sluice")).unwrap();
    let out = sluice_in(other.path(), &["init", "--lake"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(".sluice"), "{}", stderr(&out));
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let cwd = std::env::temp_dir();
    let bash = sluice_in(&cwd, &["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = stdout(&bash);
    for word in [
        "check",
        "init",
        "run",
        "branch",
        "lineage",
        "completions",
        "--format",
    ] {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    for shell in ["zsh", "fish"] {
        let out = sluice_in(&cwd, &["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("tpchgen"), "{shell}");
    }
    let out = sluice_in(&cwd, &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("possible values"), "{}", stderr(&out));
}

/// Issue 14 leftover: `SLUICE_LAKE` takes precedence over the lake `sluice.toml` names
/// (flag > env > sluice.toml), so `init` says on stderr which lake commands will use.
#[test]
fn init_warns_when_sluice_lake_overrides_the_projects_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let init = |args: &[&str], env: &str| {
        crate::command(tmp.path(), args)
            .env("SLUICE_LAKE", env)
            .output()
            .unwrap()
    };
    let out = init(&["init", "shop", "--lake"], "elsewhere");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: SLUICE_LAKE is set (elsewhere), and it takes precedence over sluice.toml: \
             sluice commands will use elsewhere, not the lake just created at shop/.sluice"
        ) && err.contains("unset SLUICE_LAKE"),
        "{err}"
    );
    // Which is true: from the project, commands use SLUICE_LAKE's lake.
    let out = crate::command(&tmp.path().join("shop"), &["table", "list"])
        .env("SLUICE_LAKE", tmp.path().join("elsewhere"))
        .output()
        .unwrap();
    assert!(stderr(&out).contains("no lake at"), "{}", stderr(&out));
    // Without --lake: sluice.toml still names a lake that SLUICE_LAKE overrides.
    let out = init(&["init", "plain"], "postgres://u:secret@db/lake");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("sluice commands will use postgres://u:***@db/lake, not plain/.sluice"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    // SLUICE_LAKE naming the project's own lake: nothing to warn about; nor when unset.
    let out = init(&["init", "same", "--lake"], "same/.sluice");
    assert_eq!(stderr(&out), "");
    let out = crate::sluice_in(tmp.path(), &["init", "unset"]);
    assert_eq!(stderr(&out), "");
}
