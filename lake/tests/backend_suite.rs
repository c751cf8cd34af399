//! The catalog test suite, written once and run against every backend:
//! SQLite always, PostgreSQL when `SLUICE_TEST_POSTGRES_URL` is set, and
//! S3 data (SQLite catalog, data in a fresh bucket of an S3-compatible server
//! configured by the `AWS_*` variables) when `SLUICE_TEST_S3_ENDPOINT` is set.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Backend, TestLake, rows, stage, write_file};
use sluice_lake::{
    ColumnChange, Commit, CommitRequest, ImportMode, Lake, LakeError, Lease, MergeOutcome,
    MergeRequest, RefKind, RefTarget, RunRow, TableChange, TableDiff,
};

/// Generates one `#[tokio::test]` per backend for each listed case.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let t = crate::common::new_lake(crate::Backend::Sqlite).await.unwrap();
                    crate::$case(&t).await;
                    t.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    match crate::common::new_lake(crate::Backend::Postgres).await {
                        Some(t) => {
                            crate::$case(&t).await;
                            t.cleanup().await;
                        }
                        None => crate::common::skip_message(stringify!($case)),
                    }
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    match crate::common::new_lake(crate::Backend::S3).await {
                        Some(t) => {
                            crate::$case(&t).await;
                            t.cleanup().await;
                        }
                        None => crate::common::skip_message_for(
                            crate::Backend::S3,
                            stringify!($case),
                        ),
                    }
                }
            )*
        }
    };
}

suite!(
    column_ids_are_assigned_once_per_table,
    new_lake_has_main_and_root_commit,
    import_csv_then_append_and_time_travel,
    import_jsonl_and_parquet,
    multi_table_commit_is_one_atomic_step,
    stale_compare_and_swap_writes_nothing,
    branches_copy_no_data_and_are_isolated,
    tags_and_commits_are_read_only,
    ref_syntax_resolves,
    fast_forward_merge,
    three_way_merge_takes_both_sides,
    three_way_conflict_refuses_and_names_tables,
    self_merge_is_refused,
    revert_restores_a_table,
    diff_reports_added_removed_changed,
    show_table_has_schema_and_history,
    bad_input_writes_nothing,
    illegal_names_are_refused,
    gc_removes_only_orphans_after_grace,
    gc_deciding_before_a_commit_never_leaves_it_dangling,
    missing_or_altered_files_are_errors_and_fsck_names_them,
    gc_with_no_grace_against_concurrent_writers_loses_nothing,
    gc_lists_and_deletes_past_one_listing_page,
    properties_and_marks,
    concurrent_handles_lose_no_update,
    commits_are_content_addressed_and_verified,
    query_sees_every_table_as_of_the_ref,
    marked_commits_can_block_a_merge,
    no_door_lets_an_unpublished_runs_snapshot_out,
    a_run_branch_is_sealed_by_its_lease,
    tables_that_collide_in_sql_are_refused,
    gc_reclaims_unreachable_runs_and_keeps_what_refs_read,
);

async fn new_lake_has_main_and_root_commit(t: &TestLake) {
    let lake = &t.lake;
    let branches = lake.list_refs(RefKind::Branch).await.unwrap();
    assert_eq!(branches.len(), 1);
    assert_eq!(branches[0].name, "main");
    let log = lake.log("main", None).await.unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].parents.is_empty());
    assert!(lake.list_tables("main").await.unwrap().is_empty());
    // Opening again does not create a second root.
    let again = t.reopen().await;
    assert_eq!(again.log("main", None).await.unwrap().len(), 1);
}

async fn import_csv_then_append_and_time_travel(t: &TestLake) {
    let lake = &t.lake;
    let csv = write_file(
        t.dir.path(),
        "orders.csv",
        "id,amount,note\n1,10.5,a\n2,,b\n3,7.25,\n",
    );
    let c1 = lake
        .import_file(&csv, "orders", "main", ImportMode::Create)
        .await
        .unwrap();
    let tables = lake.list_tables("main").await.unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].rows, 3);
    let show = lake.show_table("main", "orders").await.unwrap();
    let amount = show.schema.iter().find(|c| c.name == "amount").unwrap();
    assert_eq!(amount.null_count, 1);
    assert!(amount.nullable);

    // create again: refused, nothing changes
    let err = lake
        .import_file(&csv, "orders", "main", ImportMode::Create)
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::TableExists { .. }), "{err}");

    let c2 = lake
        .import_file(&csv, "orders", "main", ImportMode::Append)
        .await
        .unwrap();
    assert_eq!(c2.parents(), std::slice::from_ref(&c1.id));
    let show = lake.show_table("main", "orders").await.unwrap();
    assert_eq!(show.rows, 6);
    assert_eq!(show.files.len(), 2);

    // time travel: the first commit still has 3 rows
    let at_c1 = format!("main@{}", &c1.id.0[..10]);
    assert_eq!(lake.show_table(&at_c1, "orders").await.unwrap().rows, 3);
    let (_, batches) = lake
        .read_table(&format!("@{}", c1.id), "orders")
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);

    // replace
    let small = write_file(t.dir.path(), "small.csv", "id,amount,note\n9,1.0,z\n");
    lake.import_file(&small, "orders", "main", ImportMode::Replace)
        .await
        .unwrap();
    assert_eq!(lake.show_table("main", "orders").await.unwrap().rows, 1);

    // append with a different schema: refused, naming the column
    let other = write_file(t.dir.path(), "other.csv", "id,qty\n1,2\n");
    let err = lake
        .import_file(&other, "orders", "main", ImportMode::Append)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LakeError::SchemaMismatch { .. }), "{msg}");
    assert!(msg.contains("qty") || msg.contains("amount"), "{msg}");
}

async fn import_jsonl_and_parquet(t: &TestLake) {
    let lake = &t.lake;
    let jsonl = write_file(
        t.dir.path(),
        "events.jsonl",
        "{\"id\": 1, \"kind\": \"a\"}\n{\"id\": 2, \"kind\": null}\n",
    );
    lake.import_file(&jsonl, "events", "main", ImportMode::Create)
        .await
        .unwrap();
    let show = lake.show_table("main", "events").await.unwrap();
    assert_eq!(show.rows, 2);
    // Export the table's own Parquet file and import it as a new table.
    let bytes = lake.data().get(&show.files[0].path).await.unwrap();
    let pq = t.dir.path().join("events.parquet");
    std::fs::write(&pq, &bytes).unwrap();
    lake.import_file(&pq, "events_copy", "main", ImportMode::Create)
        .await
        .unwrap();
    let copy = lake.show_table("main", "events_copy").await.unwrap();
    assert_eq!(copy.rows, 2);
    assert_eq!(copy.schema, show.schema);
    assert_ne!(
        copy.files[0].path, show.files[0].path,
        "file names are unique"
    );
    // A Parquet file is stored byte for byte (streamed, not re-encoded).
    let stored = lake.data().get(&copy.files[0].path).await.unwrap();
    assert_eq!(stored, bytes);
    assert_eq!(copy.bytes, bytes.len() as u64);
}

async fn multi_table_commit_is_one_atomic_step(t: &TestLake) {
    let lake = &t.lake;
    let before = lake.branch_head("main").await.unwrap();
    let a = stage(lake, "a", &[1, 2], "a").await;
    let b = stage(lake, "b", &[3], "b").await;
    let c = stage(lake, "c", &[4, 5, 6], "c").await;
    let mut req = CommitRequest::new("main", "three tables")
        .change("a", TableChange::Create(a))
        .change("b", TableChange::Create(b))
        .change("c", TableChange::Create(c));
    req.properties.insert("run_id".into(), "r-1".into());
    let commit = lake.commit(req).await.unwrap();
    assert_eq!(commit.parents(), std::slice::from_ref(&before.id));
    assert_eq!(commit.tables().len(), 3);
    let log = lake.log("main", None).await.unwrap();
    assert_eq!(log.len(), 2, "one commit for three tables");
    assert_eq!(
        log[0].properties.get("run_id").map(String::as_str),
        Some("r-1")
    );
    assert_eq!(rows(lake, "main", "c").await.len(), 3);

    // A request whose second change fails commits nothing.
    let d = stage(lake, "d", &[7], "d").await;
    let err = lake
        .commit(
            CommitRequest::new("main", "bad")
                .change("d", TableChange::Create(d))
                .change("missing", TableChange::Drop),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::TableNotFound { .. }), "{err}");
    assert_eq!(lake.branch_head("main").await.unwrap().id, commit.id);
}

async fn stale_compare_and_swap_writes_nothing(t: &TestLake) {
    let lake = &t.lake;
    let h0 = lake.branch_head("main").await.unwrap();
    let s = stage(lake, "t", &[1], "x").await;
    let h1 = lake
        .commit(CommitRequest::new("main", "one").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    // A writer that still believes the head is h0 is refused.
    let s2 = stage(lake, "u", &[2], "y").await;
    let mut req = CommitRequest::new("main", "stale").change("u", TableChange::Create(s2));
    req.expected_head = Some(h0.id.clone());
    let err = lake.commit(req).await.unwrap_err();
    assert!(matches!(err, LakeError::Conflict { .. }), "{err}");
    assert!(err.is_refusal());
    assert_eq!(lake.branch_head("main").await.unwrap().id, h1.id);

    // Directly at the catalog level, too.
    let forged = sluice_lake::Commit::new(sluice_lake::CommitContent {
        parents: vec![h0.id.clone()],
        tables: BTreeMap::new(),
        message: "forged".into(),
        author: "t".into(),
        time_ms: 1,
        properties: BTreeMap::new(),
    });
    let err = lake
        .catalog()
        .commit("main", &h0.id, &forged, &[], None)
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::Conflict { .. }), "{err}");
    assert!(
        lake.catalog()
            .get_commit(&forged.id)
            .await
            .unwrap()
            .is_none()
    );
    let err = lake
        .catalog()
        .move_branch("main", &h0.id, &h0.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::Conflict { .. }), "{err}");
}

async fn branches_copy_no_data_and_are_isolated(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[1, 2, 3], "m").await;
    lake.commit(CommitRequest::new("main", "t").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    let files_before = t.data_files().await;
    let b = lake.create_branch("feature/x", "main").await.unwrap();
    assert_eq!(b.commit, lake.branch_head("main").await.unwrap().id);
    assert_eq!(t.data_files().await, files_before, "branch copies no data");
    assert_eq!(
        lake.show_table("feature/x", "t").await.unwrap().files,
        lake.show_table("main", "t").await.unwrap().files
    );

    let s2 = stage(lake, "t", &[4], "f").await;
    lake.commit(CommitRequest::new("feature/x", "append").change("t", TableChange::Append(s2)))
        .await
        .unwrap();
    assert_eq!(rows(lake, "feature/x", "t").await.len(), 4);
    assert_eq!(rows(lake, "main", "t").await.len(), 3);

    let err = lake.create_branch("feature/x", "main").await.unwrap_err();
    assert!(matches!(err, LakeError::RefExists { .. }), "{err}");
    let names: Vec<String> = lake
        .list_refs(RefKind::Branch)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, vec!["feature/x".to_string(), "main".to_string()]);
    lake.delete_branch("feature/x").await.unwrap();
    assert!(matches!(
        lake.delete_branch("feature/x").await.unwrap_err(),
        LakeError::BranchNotFound(_)
    ));
    assert!(matches!(
        lake.delete_branch("main").await.unwrap_err(),
        LakeError::CannotDeleteMain
    ));
}

async fn tags_and_commits_are_read_only(t: &TestLake) {
    let lake = &t.lake;
    let csv = write_file(t.dir.path(), "x.csv", "a\n1\n");
    let c = lake
        .import_file(&csv, "x", "main", ImportMode::Create)
        .await
        .unwrap();
    lake.create_tag("v1", "main").await.unwrap();
    let tags = lake.list_refs(RefKind::Tag).await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].commit, c.id);

    for target in [
        "v1",
        &format!("main@{}", c.id.short()),
        &format!("@{}", c.id),
    ] {
        let err = lake
            .import_file(&csv, "y", target, ImportMode::Create)
            .await
            .unwrap_err();
        assert!(
            matches!(err, LakeError::ReadOnlyRef { .. }),
            "{target}: {err}"
        );
        assert!(err.to_string().contains("read-only"));
        let err = lake
            .merge(MergeRequest::new("main", target))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LakeError::ReadOnlyRef { .. }),
            "{target}: {err}"
        );
        let err = lake.revert("x", "main", target).await.unwrap_err();
        assert!(
            matches!(err, LakeError::ReadOnlyRef { .. }),
            "{target}: {err}"
        );
    }
    // A tag name cannot also be a branch name.
    assert!(matches!(
        lake.create_branch("v1", "main").await.unwrap_err(),
        LakeError::RefExists { kind: "tag", .. }
    ));
    // Moving main does not move the tag.
    lake.import_file(&csv, "x", "main", ImportMode::Append)
        .await
        .unwrap();
    assert_eq!(lake.resolve("v1").await.unwrap().commit.id, c.id);
    lake.delete_tag("v1").await.unwrap();
    assert!(matches!(
        lake.delete_tag("v1").await.unwrap_err(),
        LakeError::TagNotFound(_)
    ));
}

async fn ref_syntax_resolves(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[1], "a").await;
    let c1 = lake
        .commit(CommitRequest::new("main", "1").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    lake.create_branch("dev", "main").await.unwrap();
    let s = stage(lake, "t", &[2], "b").await;
    let c2 = lake
        .commit(CommitRequest::new("dev", "2").change("t", TableChange::Append(s)))
        .await
        .unwrap();

    let r = lake.resolve("dev").await.unwrap();
    assert_eq!(r.target, RefTarget::Branch("dev".into()));
    assert_eq!(r.commit.id, c2.id);
    let r = lake.resolve(&format!("@{}", &c2.id.0[..8])).await.unwrap();
    assert_eq!((r.target, r.commit.id), (RefTarget::Commit, c2.id.clone()));
    let r = lake
        .resolve(&format!("dev@{}", &c1.id.0[..8]))
        .await
        .unwrap();
    assert_eq!(r.commit.id, c1.id);
    let r = lake.resolve(&c1.id.0).await.unwrap();
    assert_eq!(r.commit.id, c1.id);
    // c2 is on dev, not on main
    let err = lake
        .resolve(&format!("main@{}", &c2.id.0[..8]))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::CommitNotOnBranch { .. }), "{err}");
    for bad in ["nope", "@zz", "@12", "nope@1234", "@ffffffffffff"] {
        let err = lake.resolve(bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                LakeError::RefNotFound(_)
                    | LakeError::InvalidRef { .. }
                    | LakeError::CommitNotFound(_)
            ),
            "{bad}: {err}"
        );
    }
    let err = lake.resolve("nope").await.unwrap_err();
    assert!(err.to_string().contains("nope"));
}

async fn fast_forward_merge(t: &TestLake) {
    let lake = &t.lake;
    lake.create_branch("dev", "main").await.unwrap();
    let s = stage(lake, "t", &[1, 2], "d").await;
    let c = lake
        .commit(CommitRequest::new("dev", "on dev").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    let out = lake.merge(MergeRequest::new("dev", "main")).await.unwrap();
    assert!(matches!(out, MergeOutcome::FastForward { .. }), "{out:?}");
    assert_eq!(lake.branch_head("main").await.unwrap().id, c.id);
    let out = lake.merge(MergeRequest::new("dev", "main")).await.unwrap();
    assert_eq!(out, MergeOutcome::UpToDate { head: c.id.clone() });
    assert_eq!(lake.log("main", None).await.unwrap().len(), 2);
}

async fn three_way_merge_takes_both_sides(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "shared", &[1], "s").await;
    lake.commit(CommitRequest::new("main", "base").change("shared", TableChange::Create(s)))
        .await
        .unwrap();
    lake.create_branch("dev", "main").await.unwrap();
    let s = stage(lake, "from_dev", &[1, 2], "d").await;
    let dev_head = lake
        .commit(CommitRequest::new("dev", "dev").change("from_dev", TableChange::Create(s)))
        .await
        .unwrap();
    let s = stage(lake, "from_main", &[3], "m").await;
    let main_head = lake
        .commit(CommitRequest::new("main", "main").change("from_main", TableChange::Create(s)))
        .await
        .unwrap();
    let out = lake.merge(MergeRequest::new("dev", "main")).await.unwrap();
    let MergeOutcome::Merged {
        commit,
        tables_from_source,
        ..
    } = out
    else {
        panic!("expected a merge commit, got {out:?}");
    };
    assert_eq!(tables_from_source, vec!["from_dev".to_string()]);
    let merged = lake.branch_head("main").await.unwrap();
    assert_eq!(merged.id, commit);
    assert_eq!(
        merged.parents(),
        &[main_head.id.clone(), dev_head.id.clone()]
    );
    let names: Vec<&String> = merged.tables().keys().collect();
    assert_eq!(names, ["from_dev", "from_main", "shared"]);
    // dev did not move
    assert_eq!(lake.branch_head("dev").await.unwrap().id, dev_head.id);
    // merging again: up to date
    assert!(matches!(
        lake.merge(MergeRequest::new("dev", "main")).await.unwrap(),
        MergeOutcome::UpToDate { .. }
    ));
    // and main into dev now fast-forwards
    assert!(matches!(
        lake.merge(MergeRequest::new("main", "dev")).await.unwrap(),
        MergeOutcome::FastForward { .. }
    ));
}

async fn three_way_conflict_refuses_and_names_tables(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[1], "s").await;
    let s2 = stage(lake, "u", &[1], "s").await;
    lake.commit(
        CommitRequest::new("main", "base")
            .change("t", TableChange::Create(s))
            .change("u", TableChange::Create(s2)),
    )
    .await
    .unwrap();
    lake.create_branch("dev", "main").await.unwrap();
    let s = stage(lake, "t", &[2], "d").await;
    lake.commit(CommitRequest::new("dev", "dev t").change("t", TableChange::Replace(s)))
        .await
        .unwrap();
    let s = stage(lake, "t", &[3], "m").await;
    let s2 = stage(lake, "u", &[3], "m").await;
    let head = lake
        .commit(
            CommitRequest::new("main", "main t")
                .change("t", TableChange::Replace(s))
                .change("u", TableChange::Replace(s2)),
        )
        .await
        .unwrap();
    let err = lake
        .merge(MergeRequest::new("dev", "main"))
        .await
        .unwrap_err();
    let LakeError::MergeConflict { ref tables, .. } = err else {
        panic!("expected a conflict, got {err}");
    };
    assert_eq!(tables, &vec!["t".to_string()]);
    assert!(
        err.to_string().contains("`main`") && err.to_string().contains(": t"),
        "{err}"
    );
    assert_eq!(lake.branch_head("main").await.unwrap().id, head.id);
    assert_eq!(lake.log("main", None).await.unwrap().len(), 3);
}

async fn self_merge_is_refused(t: &TestLake) {
    let lake = &t.lake;
    let err = lake
        .merge(MergeRequest::new("main", "main"))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::SelfMerge { .. }), "{err}");
    assert_eq!(lake.log("main", None).await.unwrap().len(), 1);
    let err = lake
        .merge(MergeRequest::new("nope", "main"))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::RefNotFound(_)), "{err}");
    let err = lake
        .merge(MergeRequest::new("main", "nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::BranchNotFound(_)), "{err}");
}

async fn revert_restores_a_table(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[1, 2], "a").await;
    let o = stage(lake, "other", &[1], "o").await;
    let c1 = lake
        .commit(
            CommitRequest::new("main", "v1")
                .change("t", TableChange::Create(s))
                .change("other", TableChange::Create(o)),
        )
        .await
        .unwrap();
    let before = rows(lake, "main", "t").await;
    let s = stage(lake, "t", &[9], "b").await;
    let o = stage(lake, "other", &[5, 6], "o").await;
    lake.commit(
        CommitRequest::new("main", "v2")
            .change("t", TableChange::Replace(s))
            .change("other", TableChange::Replace(o)),
    )
    .await
    .unwrap();
    let n = stage(lake, "newer", &[1], "n").await;
    lake.commit(CommitRequest::new("main", "v3").change("newer", TableChange::Create(n)))
        .await
        .unwrap();
    let r = lake
        .revert("t", &format!("@{}", c1.id), "main")
        .await
        .unwrap();
    assert_eq!(rows(lake, "main", "t").await, before);
    assert_eq!(
        rows(lake, "main", "other").await.len(),
        2,
        "other tables untouched"
    );
    assert_eq!(r.tables().get("t"), c1.tables().get("t"));
    // reverting a table that did not exist then removes it
    lake.revert("newer", &format!("@{}", c1.id), "main")
        .await
        .unwrap();
    assert!(
        !lake
            .branch_head("main")
            .await
            .unwrap()
            .tables()
            .contains_key("newer")
    );
    let err = lake.revert("ghost", "main", "main").await.unwrap_err();
    assert!(matches!(err, LakeError::TableNotFound { .. }), "{err}");
}

async fn diff_reports_added_removed_changed(t: &TestLake) {
    let lake = &t.lake;
    let a = stage(lake, "a", &[1], "x").await;
    let b = stage(lake, "b", &[1, 2], "x").await;
    lake.commit(
        CommitRequest::new("main", "base")
            .change("a", TableChange::Create(a))
            .change("b", TableChange::Create(b)),
    )
    .await
    .unwrap();
    lake.create_tag("base", "main").await.unwrap();
    let csv = write_file(t.dir.path(), "b.csv", "k,w\n1,2\n2,3\n3,4\n");
    lake.import_file(&csv, "b", "main", ImportMode::Replace)
        .await
        .unwrap();
    let c = stage(lake, "c", &[1], "x").await;
    lake.commit(
        CommitRequest::new("main", "more")
            .change("c", TableChange::Create(c))
            .change("a", TableChange::Drop),
    )
    .await
    .unwrap();
    let d = lake.diff("base", "main").await.unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(
        d[0],
        TableDiff::Removed {
            table: "a".into(),
            rows: 1
        }
    );
    let TableDiff::Changed {
        rows_before,
        rows_after,
        schema_changes,
        ..
    } = &d[1]
    else {
        panic!("{d:?}")
    };
    assert_eq!((*rows_before, *rows_after), (2, 3));
    assert!(schema_changes.contains(&ColumnChange::Removed { name: "v".into() }));
    assert!(
        schema_changes
            .iter()
            .any(|c| matches!(c, ColumnChange::Added { name, .. } if name == "w"))
    );
    assert!(
        schema_changes
            .iter()
            .any(|c| matches!(c, ColumnChange::NullabilityChanged { name, .. } if name == "k"))
    );
    assert_eq!(
        d[2],
        TableDiff::Added {
            table: "c".into(),
            rows: 1
        }
    );
    assert!(lake.diff("main", "main").await.unwrap().is_empty());
}

async fn show_table_has_schema_and_history(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[1, 2, 3], "a").await;
    lake.commit(CommitRequest::new("main", "create").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    let o = stage(lake, "o", &[1], "a").await;
    lake.commit(CommitRequest::new("main", "other").change("o", TableChange::Create(o)))
        .await
        .unwrap();
    let s = stage(lake, "t", &[4], "b").await;
    lake.commit(CommitRequest::new("main", "append").change("t", TableChange::Append(s)))
        .await
        .unwrap();
    let show = lake.show_table("main", "t").await.unwrap();
    assert_eq!(show.rows, 4);
    assert_eq!(show.schema.len(), 2);
    assert_eq!(show.schema[0].name, "k");
    assert!(!show.schema[0].nullable);
    assert_eq!(show.schema[0].data_type, "Int64");
    assert!(show.schema[1].nullable);
    assert_eq!(
        show.schema[1].null_count, 1,
        "key 3 (divisible by 3) has a null v"
    );
    let msgs: Vec<&str> = show.history.iter().map(|h| h.message.as_str()).collect();
    assert_eq!(msgs, ["append", "create"]);
    assert_eq!(show.history[1].rows, Some(3));
    let err = lake.show_table("main", "zzz").await.unwrap_err();
    assert!(matches!(err, LakeError::TableNotFound { .. }), "{err}");
}

async fn bad_input_writes_nothing(t: &TestLake) {
    let lake = &t.lake;
    let head = lake.branch_head("main").await.unwrap();
    let files_before = t.data_files().await;
    let cases = [
        ("ragged.csv", "a,b\n1,2\n3\n"),
        ("empty.csv", ""),
        ("bad.parquet", "this is not parquet"),
        ("truncated.parquet", "PAR1\0\0\0\0garbagePAR1"),
        ("bad.jsonl", "{\"a\": 1}\n{not json\n"),
        ("data.txt", "a\n1\n"),
    ];
    for (name, text) in cases {
        let p = write_file(t.dir.path(), name, text);
        let err = lake
            .import_file(&p, "t", "main", ImportMode::Create)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                LakeError::MalformedInput { .. } | LakeError::UnsupportedFormat(_)
            ),
            "{name}: {msg}"
        );
        assert!(msg.contains(name), "error names the file: {msg}");
    }
    let missing = t.dir.path().join("missing.csv");
    let err = lake
        .import_file(&missing, "t", "main", ImportMode::Create)
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::Input { .. }), "{err}");
    let good = write_file(t.dir.path(), "good.csv", "a\n1\n");
    let err = lake
        .import_file(&good, "t", "no_such_branch", ImportMode::Create)
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::BranchNotFound(_)), "{err}");
    let err = lake
        .import_file(&good, "t", "main", ImportMode::Append)
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::TableNotFound { .. }), "{err}");
    assert_eq!(lake.branch_head("main").await.unwrap().id, head.id);
    assert_eq!(lake.log("main", None).await.unwrap().len(), 1);
    assert_eq!(t.data_files().await, files_before, "no data file written");
}

async fn illegal_names_are_refused(t: &TestLake) {
    let lake = &t.lake;
    for bad in [
        "a b",
        "x@y",
        "-x",
        "a..b",
        "",
        "semi;colon",
        "trail/",
        "abcdef12",
    ] {
        let err = lake.create_branch(bad, "main").await.unwrap_err();
        assert!(
            matches!(err, LakeError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
        let err = lake.create_tag(bad, "main").await.unwrap_err();
        assert!(
            matches!(err, LakeError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    let err = lake.create_branch("a b", "main").await.unwrap_err();
    assert!(
        err.to_string().contains("' '"),
        "says which character: {err}"
    );
    let csv = write_file(t.dir.path(), "x.csv", "a\n1\n");
    for bad in ["my-table", "1abc", "a.b.c", "a..b", ""] {
        let err = lake
            .import_file(&csv, bad, "main", ImportMode::Create)
            .await
            .unwrap_err();
        assert!(
            matches!(err, LakeError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(lake.list_refs(RefKind::Branch).await.unwrap().len(), 1);
    assert!(lake.list_refs(RefKind::Tag).await.unwrap().is_empty());
    assert!(t.data_files().await.is_empty());
}

async fn gc_removes_only_orphans_after_grace(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[1], "a").await;
    lake.commit(CommitRequest::new("main", "1").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    lake.create_branch("dev", "main").await.unwrap();
    let s = stage(lake, "t", &[2], "b").await;
    lake.commit(CommitRequest::new("dev", "2").change("t", TableChange::Replace(s)))
        .await
        .unwrap();
    // replaced on main too: the first file is now only reachable from history
    let s = stage(lake, "t", &[3], "c").await;
    lake.commit(CommitRequest::new("main", "3").change("t", TableChange::Replace(s)))
        .await
        .unwrap();
    // an orphan: staged, never committed (a crashed writer)
    let orphan = stage(lake, "t", &[4], "o").await;
    let orphan_path = orphan.files[0].path.clone();

    let r = lake.gc(Duration::from_secs(3600)).await.unwrap();
    assert!(r.deleted.is_empty(), "grace period protects recent files");
    assert_eq!(r.too_recent, 1);
    assert_eq!(r.referenced, 3);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = lake.gc(Duration::from_millis(10)).await.unwrap();
    assert_eq!(r.deleted, vec![orphan_path.clone()]);
    assert!(!lake.data().exists(&orphan_path).await.unwrap());
    // every ref and every old commit still reads
    for log in lake.log("main", None).await.unwrap() {
        let c = lake.commit_by_id(&log.hash).await.unwrap();
        if c.tables().contains_key("t") {
            rows(lake, &format!("@{}", c.id), "t").await;
        }
    }
    assert_eq!(rows(lake, "dev", "t").await.len(), 1);
    // committing the collected staged table is refused, not dangling
    let err = lake
        .commit(CommitRequest::new("main", "late").change("t", TableChange::Replace(orphan)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

/// The race of issue 10: gc decides a staged file is an orphan, the writer
/// commits it, then gc deletes it. Driven step by step: the commit must either
/// be refused (nothing written) or keep its file.
async fn gc_deciding_before_a_commit_never_leaves_it_dangling(t: &TestLake) {
    let lake = &t.lake;
    let gc_lake = t.reopen().await;
    let s = stage(lake, "t", &[1, 2, 3], "a").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    // gc (grace 0) decides while the file is staged but not committed ...
    let plan = gc_lake.gc_plan(Duration::ZERO).await.unwrap();
    // ... the writer commits ...
    let committed = lake
        .commit(CommitRequest::new("main", "w").change("t", TableChange::Create(s)))
        .await;
    // ... and gc acts on its decision.
    gc_lake.gc_sweep(plan).await.unwrap();
    match committed {
        Ok(_) => assert_eq!(rows(lake, "main", "t").await.len(), 3),
        Err(e) => {
            assert!(matches!(e, LakeError::StagedFileLost { .. }), "{e}");
            let head = lake.branch_head("main").await.unwrap();
            assert!(!head.tables().contains_key("t"), "a refused commit wrote");
        }
    }
    let fsck = lake.fsck(None).await.unwrap();
    assert!(fsck.is_clean(), "{:?}", fsck.faults);
    // A commit that wins the race keeps its file through the next gc.
    let s = stage(lake, "t", &[4], "b").await;
    let kept = s.files[0].path.clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let plan = gc_lake.gc_plan(Duration::ZERO).await.unwrap();
    lake.commit(CommitRequest::new("main", "w2").change("t", TableChange::Replace(s)))
        .await
        .unwrap_err();
    gc_lake.gc_sweep(plan).await.unwrap();
    let s = stage(lake, "t", &[5], "c").await;
    let kept2 = s.files[0].path.clone();
    lake.commit(CommitRequest::new("main", "w3").change("t", TableChange::Replace(s)))
        .await
        .unwrap();
    let r = gc_lake.gc(Duration::ZERO).await.unwrap();
    assert!(!r.deleted.contains(&kept2), "{r:?}");
    assert!(!lake.data().exists(&kept).await.unwrap());
    assert_eq!(rows(lake, "main", "t").await, vec![(5, Some("c5".into()))]);
}

/// Issue 10: a missing data file read as an empty table. Every read path
/// must fail naming the table, the ref and the file; fsck lists each fault.
async fn missing_or_altered_files_are_errors_and_fsck_names_them(t: &TestLake) {
    use sluice_lake::FileFault;
    let lake = &t.lake;
    let s = stage(lake, "t", &[1, 2, 3], "a").await;
    let path = s.files[0].path.clone();
    let size = s.files[0].bytes;
    lake.commit(CommitRequest::new("main", "t").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    lake.create_tag("v1", "main").await.unwrap();
    let good = lake.fsck(None).await.unwrap();
    assert!(good.is_clean(), "{:?}", good.faults);
    assert_eq!((good.files, good.refs.len()), (1, 2));
    let original = lake.data().get(&path).await.unwrap();
    let u = stage(lake, "u", &[9], "u").await;
    lake.commit(CommitRequest::new("main", "u").change("u", TableChange::Create(u)))
        .await
        .unwrap();

    lake.data().delete(&path).await.unwrap();
    // A query that does not scan the damaged table still runs.
    let (_, b) = lake.query("SELECT k FROM u", "main").await.unwrap();
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let err = lake
        .query("SELECT count(*) AS n FROM t", "main")
        .await
        .unwrap_err();
    match &err {
        LakeError::DataFileMissing {
            table,
            reference,
            path: p,
        } => assert_eq!(
            (table.as_str(), reference.as_str(), p),
            ("t", "main", &path)
        ),
        other => panic!("expected DataFileMissing, got {other}"),
    }
    assert!(err.to_string().contains(&path), "{err}");
    let err = lake.read_table("v1", "t").await.unwrap_err();
    assert!(matches!(err, LakeError::DataFileMissing { .. }), "{err}");
    let r = lake.fsck(None).await.unwrap();
    let faults: Vec<(&str, &str, &FileFault)> = r
        .faults
        .iter()
        .map(|f| (f.reference.as_str(), f.table.as_str(), &f.fault))
        .collect();
    assert_eq!(
        faults,
        vec![
            ("main", "t", &FileFault::Missing),
            ("v1", "t", &FileFault::Missing)
        ]
    );
    let only = lake.fsck(Some("v1")).await.unwrap();
    assert_eq!(only.faults.len(), 1);
    assert_eq!(only.faults[0].path, path);

    // Truncated: a size mismatch.
    let short = original.slice(..original.len() - 10);
    lake.data().put(&path, short).await.unwrap();
    let err = lake.query("SELECT * FROM t", "main").await.unwrap_err();
    assert!(
        matches!(err, LakeError::DataFileAltered { expected, actual, .. } if expected == size && actual == size - 10),
        "{err}"
    );
    assert!(lake.read_table("main", "t").await.is_err());
    let r = lake.fsck(Some("main")).await.unwrap();
    assert_eq!(
        r.faults[0].fault,
        FileFault::SizeMismatch {
            expected: size,
            actual: size - 10
        }
    );

    // Same size, garbage: the footer does not read.
    lake.data()
        .put(&path, bytes::Bytes::from(vec![7u8; size as usize]))
        .await
        .unwrap();
    let r = lake.fsck(Some("main")).await.unwrap();
    assert!(
        matches!(r.faults[0].fault, FileFault::Unreadable { .. }),
        "{:?}",
        r.faults
    );

    // Restored: clean again, and the table reads.
    lake.data().put(&path, original).await.unwrap();
    assert!(lake.fsck(None).await.unwrap().is_clean());
    assert_eq!(rows(lake, "main", "t").await.len(), 3);
}

/// gc with grace periods down to 0 looping beside writers that stage and
/// commit (bounded: 3 writers x 8 commits): a commit either succeeds and
/// keeps every file, or is refused and writes nothing. Afterwards every
/// committed snapshot's files exist and read back with their recorded rows.
async fn gc_with_no_grace_against_concurrent_writers_loses_nothing(t: &TestLake) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const WRITERS: usize = 3;
    const COMMITS: usize = 8;
    let done = Arc::new(AtomicBool::new(false));
    let gc_lake = t.reopen().await;
    let gc_done = done.clone();
    let gc = tokio::spawn(async move {
        let graces = [0u64, 0, 2, 10, 40];
        let mut runs = 0usize;
        while !gc_done.load(Ordering::SeqCst) && runs < 10_000 {
            let grace = Duration::from_millis(graces[runs % graces.len()]);
            gc_lake.gc(grace).await.unwrap();
            runs += 1;
        }
        runs
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let lake = t.reopen().await;
        writers.push(tokio::spawn(async move {
            let table = format!("w{w}");
            let (mut ok, mut refused) = (Vec::new(), 0usize);
            for i in 0..COMMITS {
                let key = (w * 100 + i) as i64;
                let staged = stage(&lake, &table, &[key, key + 1000], "s").await;
                // Writers of different speeds: some outlive gc's grace.
                tokio::time::sleep(Duration::from_millis(((w * 7 + i * 13) % 25) as u64)).await;
                let head = lake.branch_head("main").await.unwrap();
                let change = if head.tables().contains_key(&table) {
                    TableChange::Append(staged)
                } else {
                    TableChange::Create(staged)
                };
                match lake
                    .commit(
                        CommitRequest::new("main", &format!("{table} {i}")).change(&table, change),
                    )
                    .await
                {
                    Ok(c) => ok.push(c.id),
                    Err(LakeError::StagedFileLost { .. }) => refused += 1,
                    Err(e) if e.to_string().contains("is missing") => refused += 1,
                    Err(e) => panic!("writer {w}: {e}"),
                }
            }
            (ok, refused)
        }));
    }
    let mut committed = Vec::new();
    let mut refused = 0;
    for w in writers {
        let (ok, r) = w.await.unwrap();
        committed.extend(ok);
        refused += r;
    }
    done.store(true, Ordering::SeqCst);
    let gc_runs = gc.await.unwrap();
    assert!(gc_runs > 0);
    assert_eq!(committed.len() + refused, WRITERS * COMMITS);
    let lake = &t.lake;
    // One more gc with no grace: nothing referenced goes.
    lake.gc(Duration::ZERO).await.unwrap();
    for id in &committed {
        let c = lake.commit_by_id(id).await.unwrap();
        for (table, sid) in c.tables() {
            let snap = lake.snapshot(sid).await.unwrap();
            let (_, batches) = lake
                .read_table(&format!("@{}", c.id), table)
                .await
                .unwrap_or_else(|e| panic!("commit {} table {table}: {e}", c.id));
            let n: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(n as u64, snap.content.rows, "commit {} table {table}", c.id);
        }
    }
    let fsck = lake.fsck(None).await.unwrap();
    assert!(fsck.is_clean(), "{:?}", fsck.faults);
    // Nothing is left behind but referenced files.
    let referenced = common::referenced_files(lake).await;
    let left: std::collections::BTreeSet<String> = t.data_files().await.into_iter().collect();
    assert_eq!(left, referenced);
}

async fn gc_lists_and_deletes_past_one_listing_page(t: &TestLake) {
    use futures::StreamExt;
    let lake = &t.lake;
    let s = stage(lake, "t", &[1, 2], "a").await;
    let kept = s.files[0].path.clone();
    lake.commit(CommitRequest::new("main", "1").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    // More orphans than one listing returns (S3 pages at 1000 keys).
    let orphans: Vec<String> = (0..1100)
        .map(|_| sluice_lake::store::new_file_path("t"))
        .collect();
    futures::stream::iter(orphans.clone())
        .map(|p| async move { lake.data().put(&p, bytes::Bytes::from_static(b"x")).await })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()
        .unwrap();
    assert_eq!(lake.data().list_data_files().await.unwrap().len(), 1101);
    let r = lake.gc(Duration::from_secs(3600)).await.unwrap();
    assert_eq!((r.referenced, r.too_recent), (1, 1100));
    assert!(r.deleted.is_empty());

    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = lake.gc(Duration::from_millis(10)).await.unwrap();
    let mut expected = orphans;
    expected.sort();
    assert_eq!(r.deleted, expected);
    assert_eq!(r.deleted_bytes, 1100);
    assert_eq!(r.referenced, 1);
    assert_eq!(t.data_files().await, vec![kept]);
    assert_eq!(rows(lake, "main", "t").await.len(), 2);
}

async fn properties_and_marks(t: &TestLake) {
    let lake = &t.lake;
    lake.create_branch("run_1", "main").await.unwrap();
    lake.set_branch_property("run_1", "run_id", Some("r1"))
        .await
        .unwrap();
    lake.set_branch_property("run_1", "aborted", Some("true"))
        .await
        .unwrap();
    let b = lake.catalog().get_ref("run_1").await.unwrap().unwrap();
    assert_eq!(
        b.properties.get("aborted").map(String::as_str),
        Some("true")
    );
    lake.set_branch_property("run_1", "aborted", None)
        .await
        .unwrap();
    let b = lake.catalog().get_ref("run_1").await.unwrap().unwrap();
    assert_eq!(b.properties.len(), 1);
    assert!(matches!(
        lake.set_branch_property("nope", "k", Some("v"))
            .await
            .unwrap_err(),
        LakeError::BranchNotFound(_)
    ));
    let head = lake.branch_head("run_1").await.unwrap();
    lake.mark_commit(&head.id, "aborted", "r1").await.unwrap();
    let marks = lake.commit_marks(&head.id).await.unwrap();
    assert_eq!(marks.get("aborted").map(String::as_str), Some("r1"));
    let log = lake.log("run_1", Some(1)).await.unwrap();
    assert_eq!(log[0].marks, marks);
    // a mark does not change the commit id
    assert_eq!(lake.commit_by_id(&head.id).await.unwrap().id, head.id);
}

async fn concurrent_handles_lose_no_update(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[0], "z").await;
    lake.commit(CommitRequest::new("main", "0").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let handle = t.reopen().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..5i64 {
                let key = 1 + w * 100 + i;
                let s = stage(&handle, "t", &[key], "w").await;
                handle
                    .commit(
                        CommitRequest::new("main", &format!("w{w} i{i}"))
                            .change("t", TableChange::Append(s)),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut keys: Vec<i64> = rows(lake, "main", "t")
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 21);
    assert_eq!(lake.log("main", None).await.unwrap().len(), 1 + 1 + 20);
}

async fn commits_are_content_addressed_and_verified(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "t", &[1], "a").await;
    let c = lake
        .commit(CommitRequest::new("main", "x").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    let again = lake.commit_by_id(&c.id).await.unwrap();
    assert_eq!(again, c);
    assert_eq!(c.id.0.len(), 64);
    let snap = lake.snapshot(&c.tables()["t"]).await.unwrap();
    assert_eq!(snap.content.rows, 1);
    assert_eq!(snap.content.columns[1].null_count, 0);
    assert!(snap.content.bytes > 0);
}

async fn query_sees_every_table_as_of_the_ref(t: &TestLake) {
    use arrow::array::{Array, Int64Array};
    let lake = &t.lake;
    let a = stage(lake, "a", &[1, 2, 3], "x").await;
    let b = stage(lake, "b", &[2, 3], "y").await;
    let c1 = lake
        .commit(
            CommitRequest::new("main", "ab")
                .change("a", TableChange::Create(a))
                .change("b", TableChange::Create(b)),
        )
        .await
        .unwrap();
    let more = stage(lake, "a", &[4, 5], "x").await;
    lake.commit(CommitRequest::new("main", "more").change("a", TableChange::Append(more)))
        .await
        .unwrap();
    let count = |batches: &[arrow::array::RecordBatch]| -> i64 {
        let col = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(col.len(), 1);
        col.value(0)
    };
    let (_, now) = lake
        .query("SELECT count(*) AS n FROM a JOIN b ON a.k = b.k", "main")
        .await
        .unwrap();
    assert_eq!(count(&now), 2);
    let (_, all) = lake
        .query("SELECT count(*) AS n FROM a", "main")
        .await
        .unwrap();
    assert_eq!(count(&all), 5);
    let (_, old) = lake
        .query("SELECT count(*) AS n FROM a", &format!("@{}", c1.id))
        .await
        .unwrap();
    assert_eq!(count(&old), 3, "time travel");
    let err = lake
        .query("SELECT * FROM nowhere", "main")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LakeError::TableNotFound { table, reference } if table == "nowhere" && reference == "main"),
        "{err}"
    );
    let err = lake
        .query("CREATE TABLE z AS SELECT 1", "main")
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::Query(_)), "{err}");
    assert!(lake.query("SELECT 1", "ghost").await.is_err());
}

async fn marked_commits_can_block_a_merge(t: &TestLake) {
    // The paper's counterexample: a branch made from an aborted run's branch
    // must not smuggle the aborted commit into main.
    let lake = &t.lake;
    let base = lake.branch_head("main").await.unwrap();
    lake.create_branch_at("run-1", &base.id).await.unwrap();
    let s = stage(lake, "t", &[1], "r").await;
    let aborted = lake
        .commit(CommitRequest::new("run-1", "run 1 partial").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    lake.mark_commit(&aborted.id, "aborted", "run-1")
        .await
        .unwrap();
    lake.create_branch("agent", "run-1").await.unwrap();
    let s = stage(lake, "u", &[2], "a").await;
    lake.commit(CommitRequest::new("agent", "more").change("u", TableChange::Create(s)))
        .await
        .unwrap();
    let mut req = MergeRequest::new("agent", "main");
    req.refuse_marked = vec!["aborted".into()];
    let err = lake.merge(req.clone()).await.unwrap_err();
    assert!(matches!(err, LakeError::MarkedCommit { .. }), "{err}");
    assert!(err.to_string().contains("aborted=run-1"), "{err}");
    assert_eq!(lake.branch_head("main").await.unwrap().id, base.id);
    // without the guard the merge goes through
    req.refuse_marked.clear();
    assert!(matches!(
        lake.merge(req).await.unwrap(),
        MergeOutcome::FastForward { .. }
    ));
}

fn run_row(id: &str, status: &str, started_ms: i64) -> RunRow {
    RunRow {
        id: id.into(),
        status: status.into(),
        started_ms,
        body: "{}".into(),
    }
}

/// A run `id` that ended with `status`, whose sealed branch `run/<id>` holds
/// its output `t`.
async fn ended_run(lake: &Lake, id: &str, status: &str) -> Commit {
    let base = lake.branch_head("main").await.unwrap();
    lake.put_run(&run_row(id, "running", 1)).await.unwrap();
    let run = lake.clone().with_lease(Lease::new(id));
    let branch = format!("run/{id}");
    run.create_run_branch(&branch, &base.id).await.unwrap();
    let s = stage(lake, "t", &[1], "run").await;
    let req = CommitRequest::new(&branch, "run output").change("t", TableChange::Create(s));
    let out = run.commit(req).await.unwrap();
    run.put_run(&run_row(id, status, 1)).await.unwrap();
    out
}

async fn no_door_lets_an_unpublished_runs_snapshot_out(t: &TestLake) {
    // The paper's stage-4 counterexample and its relatives: whatever the
    // door (merge, fast-forward, revert, restore, fork), an aborted run's
    // snapshot never reaches another branch.
    let lake = &t.lake;
    let base = lake.branch_head("main").await.unwrap();
    let out = ended_run(lake, "aaaa0001", "failed").await;
    let snap = out.tables()["t"].clone();
    let refused = |r: Result<_, LakeError>, what: &str| match r {
        Err(e @ LakeError::UnpublishedRun { .. }) => {
            assert!(e.to_string().contains("aaaa0001"), "{what}: {e}");
            assert!(e.to_string().contains("failed"), "{what}: {e}");
        }
        Err(e) => panic!("{what}: wrong error {e}"),
        Ok(_) => panic!("{what}: an aborted run's snapshot got through"),
    };
    refused(
        lake.revert("t", "run/aaaa0001", "main").await.map(drop),
        "revert",
    );
    refused(
        lake.commit(
            CommitRequest::new("main", "restore").change("t", TableChange::Restore(Some(snap))),
        )
        .await
        .map(drop),
        "restore",
    );
    refused(
        lake.create_branch("agent", "run/aaaa0001").await.map(drop),
        "fork",
    );
    refused(
        lake.create_branch("agent", &format!("@{}", out.id))
            .await
            .map(drop),
        "fork of a hash",
    );
    // A tag stays allowed (read-only), but leads nowhere.
    lake.create_tag("inspect", "run/aaaa0001").await.unwrap();
    refused(
        lake.create_branch("agent", "inspect").await.map(drop),
        "fork of a tag",
    );
    for source in ["run/aaaa0001", "inspect"] {
        refused(
            lake.merge(MergeRequest::new(source, "main"))
                .await
                .map(drop),
            "merge",
        );
        let mut no_ff = MergeRequest::new(source, "main");
        no_ff.no_fast_forward = true;
        refused(lake.merge(no_ff).await.map(drop), "merge commit");
    }
    // A three-way merge (main moved on) is refused the same way.
    let s = stage(lake, "u", &[2], "main").await;
    lake.commit(CommitRequest::new("main", "more").change("u", TableChange::Create(s)))
        .await
        .unwrap();
    let moved = lake.branch_head("main").await.unwrap();
    refused(
        lake.merge(MergeRequest::new("run/aaaa0001", "main"))
            .await
            .map(drop),
        "three-way merge",
    );
    assert_eq!(lake.branch_head("main").await.unwrap().id, moved.id);
    assert!(lake.branch_head("agent").await.is_err(), "no fork was made");
    // Reading it stays possible.
    assert_eq!(rows(lake, "run/aaaa0001", "t").await.len(), 1);
    assert_ne!(moved.id, base.id);
    // A run that succeeded is published: its snapshots go anywhere.
    ended_run(lake, "bbbb0002", "succeeded").await;
    lake.revert("t", "run/bbbb0002", "main").await.unwrap();
    lake.create_branch("copy", "run/bbbb0002").await.unwrap();
}

/// Issue 14 (13): a run that did not succeed, whose branch is gone, can never be
/// read through a ref again (the write guard), so gc reclaims its files; while its
/// branch exists, while a tag points into its history, and for whatever another
/// snapshot shares, they stay.
async fn gc_reclaims_unreachable_runs_and_keeps_what_refs_read(t: &TestLake) {
    let lake = &t.lake;
    let s = stage(lake, "m", &[1], "main").await;
    lake.commit(CommitRequest::new("main", "m").change("m", TableChange::Create(s)))
        .await
        .unwrap();
    let file_of = |c: &Commit, table: &str| {
        let lake = lake.clone();
        let snapshot = c.tables()[table].clone();
        async move {
            lake.snapshot(&snapshot).await.unwrap().content.files[0]
                .path
                .clone()
        }
    };
    let main_file = file_of(&lake.branch_head("main").await.unwrap(), "m").await;
    let failed = ended_run(lake, "dddd0004", "failed").await;
    let failed_file = file_of(&failed, "t").await;
    let tagged = ended_run(lake, "eeee0005", "failed").await;
    let tagged_file = file_of(&tagged, "t").await;
    let dry = ended_run(lake, "ffff0006", "validated").await;
    let dry_file = file_of(&dry, "t").await;
    lake.create_tag("inspect", "run/eeee0005").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Every run branch still exists: nothing goes.
    let r = lake.gc(Duration::ZERO).await.unwrap();
    assert!(r.deleted.is_empty(), "{r:?}");

    for id in ["dddd0004", "eeee0005", "ffff0006"] {
        lake.delete_branch(&format!("run/{id}")).await.unwrap();
    }
    let r = lake.gc(Duration::ZERO).await.unwrap();
    let mut expected = vec![failed_file.clone(), dry_file.clone()];
    expected.sort();
    assert_eq!(r.deleted, expected, "{r:?}");
    for gone in &expected {
        assert!(!lake.data().exists(gone).await.unwrap(), "{gone}");
    }
    // What refs read stays: main's table, and the failed run the tag points at.
    assert!(lake.data().exists(&main_file).await.unwrap());
    assert!(lake.data().exists(&tagged_file).await.unwrap());
    assert_eq!(rows(lake, "main", "m").await.len(), 1);
    assert_eq!(rows(lake, "inspect", "t").await.len(), 1);
    assert!(lake.fsck(None).await.unwrap().is_clean());
    // The reclaimed run's commit is still recorded; reading it names the file.
    let err = lake
        .read_table(&format!("@{}", failed.id), "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&failed_file), "{err}");
    // Without the tag, the tagged run goes too.
    lake.delete_tag("inspect").await.unwrap();
    let r = lake.gc(Duration::ZERO).await.unwrap();
    assert_eq!(r.deleted, vec![tagged_file], "{r:?}");
    assert_eq!(rows(lake, "main", "m").await.len(), 1);
}

async fn a_run_branch_is_sealed_by_its_lease(t: &TestLake) {
    let lake = &t.lake;
    let base = lake.branch_head("main").await.unwrap();
    lake.put_run(&run_row("cccc0003", "running", 1))
        .await
        .unwrap();
    let run = lake.clone().with_lease(Lease::new("cccc0003"));
    run.create_run_branch("run/cccc0003", &base.id)
        .await
        .unwrap();
    let s = stage(lake, "t", &[1], "run").await;
    let mine = run
        .commit(CommitRequest::new("run/cccc0003", "output").change("t", TableChange::Create(s)))
        .await
        .unwrap();
    lake.create_branch("side", "main").await.unwrap();
    let s = stage(lake, "side", &[1], "side").await;
    lake.commit(CommitRequest::new("side", "s").change("side", TableChange::Create(s)))
        .await
        .unwrap();
    // Every foreign write is refused, naming the run; a forged lease too.
    let forged = lake.clone().with_lease(Lease::new("cccc0003"));
    for other in [lake, &forged] {
        let sealed = |r: Result<(), LakeError>, what: &str| match r {
            Err(LakeError::SealedBranch { run, branch, .. }) => {
                assert_eq!(
                    (run.as_str(), branch.as_str()),
                    ("cccc0003", "run/cccc0003"),
                    "{what}"
                )
            }
            other => panic!("{what}: {other:?}"),
        };
        let s = stage(lake, "extra", &[9], "foreign").await;
        sealed(
            other
                .commit(
                    CommitRequest::new("run/cccc0003", "x").change("extra", TableChange::Create(s)),
                )
                .await
                .map(drop),
            "commit",
        );
        sealed(
            other.drop_table("t", "run/cccc0003").await.map(drop),
            "drop",
        );
        sealed(
            other.revert("t", "main", "run/cccc0003").await.map(drop),
            "revert",
        );
        sealed(
            other
                .merge(MergeRequest::new("side", "run/cccc0003"))
                .await
                .map(drop),
            "merge into",
        );
        sealed(other.delete_branch("run/cccc0003").await, "delete");
        sealed(
            other
                .set_branch_property("run/cccc0003", "aborted", Some("x"))
                .await,
            "property",
        );
        let mut done = run_row("cccc0003", "succeeded", 1);
        done.body = "{\"forged\":true}".into();
        sealed(other.put_run(&done).await, "succeed");
        assert_eq!(lake.branch_head("run/cccc0003").await.unwrap().id, mine.id);
    }
    // Moving a sealed branch through the catalog without the lease: refused too.
    let err = lake
        .catalog()
        .move_branch("run/cccc0003", &mine.id, &base.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::SealedBranch { .. }), "{err}");
    // Others cannot merge it while it runs; the run itself publishes it.
    let err = lake
        .merge(MergeRequest::new("run/cccc0003", "main"))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::UnpublishedRun { .. }), "{err}");
    let mut publish = MergeRequest::new("run/cccc0003", "main");
    publish.no_fast_forward = true;
    publish.expected_source_head = Some(base.id.clone());
    let err = run.merge(publish.clone()).await.unwrap_err();
    assert!(
        matches!(err, LakeError::Conflict { .. }),
        "stale source: {err}"
    );
    publish.expected_source_head = Some(mine.id.clone());
    let out = run.merge(publish).await.unwrap();
    assert_eq!(
        lake.commit_by_id(out.head()).await.unwrap().parents().len(),
        2
    );
    run.put_run(&run_row("cccc0003", "succeeded", 1))
        .await
        .unwrap();
    // A finished run's status is final.
    let err = run
        .put_run(&run_row("cccc0003", "failed", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::RunFinished { .. }), "{err}");
    // Still sealed for commits; deletable once the run ended.
    let s = stage(lake, "extra", &[9], "late").await;
    let err = lake
        .commit(CommitRequest::new("run/cccc0003", "late").change("extra", TableChange::Create(s)))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::SealedBranch { .. }), "{err}");
    lake.delete_branch("run/cccc0003").await.unwrap();
    // The name is free again, unsealed.
    lake.create_branch("run/cccc0003", "main").await.unwrap();
    let s = stage(lake, "extra", &[9], "free").await;
    lake.commit(CommitRequest::new("run/cccc0003", "x").change("extra", TableChange::Create(s)))
        .await
        .unwrap();
    let all = lake.runs("", 10).await.unwrap();
    assert_eq!(all[0].status, "succeeded");
}

async fn tables_that_collide_in_sql_are_refused(t: &TestLake) {
    let lake = &t.lake;
    let csv = write_file(t.dir.path(), "raw.csv", "id\n1\n");
    lake.import_file(&csv, "raw", "main", ImportMode::Create)
        .await
        .unwrap();
    for alias in ["public.raw", "RAW", "Public.Raw"] {
        let err = lake
            .import_file(&csv, alias, "main", ImportMode::Create)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LakeError::TableNameCollision { existing, .. } if existing == "raw"),
            "{alias}: {err}"
        );
    }
    // The same through a merge of a branch that added an alias of a new table.
    lake.create_branch("side", "main").await.unwrap();
    let s = stage(lake, "Events", &[1], "a").await;
    lake.commit(CommitRequest::new("side", "e").change("Events", TableChange::Create(s)))
        .await
        .unwrap();
    let s = stage(lake, "events", &[1], "b").await;
    lake.commit(CommitRequest::new("main", "e").change("events", TableChange::Create(s)))
        .await
        .unwrap();
    let err = lake
        .merge(MergeRequest::new("side", "main"))
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::TableNameCollision { .. }), "{err}");
    let (_, batches) = lake.query("SELECT 1 AS one", "main").await.unwrap();
    assert_eq!(batches[0].num_rows(), 1);
    let (_, batches) = lake.query("SELECT * FROM raw", "main").await.unwrap();
    assert_eq!(batches[0].num_rows(), 1);
}

async fn column_ids_are_assigned_once_per_table(t: &TestLake) {
    let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    let lake = &t.lake;
    let first = lake
        .column_ids("orders", &keys(&["id:long", "amount:double", "id:long"]))
        .await
        .unwrap();
    assert_eq!(
        first,
        vec![1, 2, 1],
        "new keys get 1, 2 in order; a repeat its id"
    );
    // Known keys keep their ids; a new key gets the next one, whatever the order asked.
    let again = lake
        .column_ids(
            "orders",
            &keys(&["note:string", "amount:double", "id:long"]),
        )
        .await
        .unwrap();
    assert_eq!(again, vec![3, 2, 1]);
    // Another table counts from 1; a second handle on the same catalog agrees.
    let other = t.reopen().await;
    assert_eq!(
        other
            .column_ids("raw.orders", &keys(&["id:long"]))
            .await
            .unwrap(),
        vec![1]
    );
    assert_eq!(
        other
            .column_ids("orders", &keys(&["note:string"]))
            .await
            .unwrap(),
        vec![3]
    );
    // Concurrent callers adding different columns never share an id.
    let (x, y) = (keys(&["x:int"]), keys(&["y:int"]));
    let (a, b) = tokio::join!(
        lake.column_ids("orders", &x),
        other.column_ids("orders", &y)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a, b);
    let mut both = vec![a[0], b[0]];
    both.sort();
    assert_eq!(both, vec![4, 5]);
    assert!(matches!(
        lake.column_ids("bad name", &keys(&["x:int"])).await,
        Err(LakeError::InvalidName { .. })
    ));
}
