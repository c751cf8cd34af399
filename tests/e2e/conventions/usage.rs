//! Item: usage errors are clap's own (the missing argument named, the valid values
//! listed, "a similar subcommand exists"), exit 2; every subcommand's `--help` is
//! snapshotted so drift is visible in review.

use crate::{check_fixture, sluice_in, stderr, stdout};

/// Runs a usage error: exit 2, nothing on stdout, and stderr containing each of
/// `expected`.
fn usage_error(args: &[&str], expected: &[&str]) {
    let out = sluice_in(&std::env::temp_dir(), args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "sluice {args:?}: {err}");
    assert!(out.stdout.is_empty(), "sluice {args:?}: {}", stdout(&out));
    for e in expected {
        assert!(
            err.contains(e),
            "sluice {args:?}: expected {e:?} in:\n{err}"
        );
    }
}

#[test]
fn missing_required_arguments_are_named() {
    usage_error(&["lineage"], &["required arguments", "<TABLE.COLUMN>"]);
    usage_error(&["revert", "orders", "--into", "main"], &["--to <REF>"]);
    usage_error(&["merge", "dev"], &["--into <BRANCH>"]);
    usage_error(&["import", "orders.csv"], &["--table <TABLE>"]);
    usage_error(&["runs", "show"], &["<RUN_ID>"]);
}

#[test]
fn bad_format_values_list_the_valid_ones() {
    usage_error(
        &["log", "--format", "yaml"],
        &["invalid value 'yaml'", "[possible values: text, json]"],
    );
    // csv is offered only where it is supported.
    usage_error(
        &["table", "list", "--format", "csv"],
        &["[possible values: text, json]"],
    );
    usage_error(
        &["query", "SELECT 1", "--format", "yaml"],
        &["[possible values: table, csv, json]"],
    );
    usage_error(
        &["check", "--format", "yaml"],
        &["[possible values: text, json, github, sarif, junit, gitlab]"],
    );
    usage_error(
        &["plan", "--format", "svg"],
        &["[possible values: text, json, dot, mermaid]"],
    );
}

#[test]
fn a_mistyped_subcommand_gets_a_suggestion() {
    usage_error(&["chek"], &["unrecognized subcommand 'chek'", "'check'"]);
    usage_error(&["branch", "lst"], &["'list'"]);
    usage_error(&["check", "--formt", "json"], &["--format"]);
}

#[test]
fn lineage_takes_the_project_folder_or_defaults_to_the_current_one() {
    let dir = check_fixture("ok_paper_listings");
    let explicit = sluice_in(
        &std::env::temp_dir(),
        &[
            "lineage",
            dir.to_str().unwrap(),
            "raw_table.col3",
            "--downstream",
        ],
    );
    assert_eq!(explicit.status.code(), Some(0), "{}", stderr(&explicit));
    let implicit = sluice_in(&dir, &["lineage", "raw_table.col3", "--downstream"]);
    assert_eq!(implicit.status.code(), Some(0), "{}", stderr(&implicit));
    assert_eq!(stdout(&explicit), stdout(&implicit));
    assert!(
        stdout(&implicit).lines().count() > 1,
        "{}",
        stdout(&implicit)
    );
}

/// Every command path (`["branch", "create"]`, ...) listed under "Commands:" in the
/// help of its parent, recursively (clap's own `help` excluded).
fn command_paths(prefix: &[String]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = prefix.iter().map(String::as_str).collect();
    args.push("--help");
    let help = stdout(&sluice_in(&std::env::temp_dir(), &args));
    let mut paths = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line == "Commands:" {
            in_commands = true;
            continue;
        }
        if in_commands {
            let Some(name) = line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            else {
                break;
            };
            if name == "help" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(name.to_string());
            paths.push(path.clone());
            paths.extend(command_paths(&path));
        }
    }
    paths
}

#[test]
fn help_of_every_subcommand() {
    let paths = command_paths(&[]);
    assert!(paths.len() > 20, "found only {paths:?}");
    let mut all = vec![Vec::new()];
    all.extend(paths);
    for path in all {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = sluice_in(&std::env::temp_dir(), &args);
        assert_eq!(out.status.code(), Some(0), "sluice {args:?}");
        let name = if path.is_empty() {
            "help_sluice".to_string()
        } else {
            format!("help_{}", path.join("_"))
        };
        insta::assert_snapshot!(name, stdout(&out));
    }
}
