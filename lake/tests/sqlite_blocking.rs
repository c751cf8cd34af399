//! The SQLite catalog never blocks the async runtime: a call that waits for the
//! database lock (another process writing, up to the 60 s busy timeout) waits on
//! tokio's blocking pool, so the runtime's other tasks — parallel nodes of a run,
//! timers, progress — keep going.

mod common;

use std::time::Duration;

use common::Backend;
use sluice_lake::CatalogConfig;

#[tokio::test(flavor = "current_thread")]
async fn a_commit_waiting_for_the_sqlite_lock_leaves_the_runtime_free() {
    let t = common::new_lake(Backend::Sqlite)
        .await
        .expect("sqlite lake");
    let CatalogConfig::Sqlite(path) = &t.config.catalog else {
        unreachable!("a sqlite lake")
    };
    // Another writer (as another process would) holds the database's write lock.
    let blocker = rusqlite::Connection::open(path).expect("open catalog");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");

    // On this single-threaded runtime, a branch creation (one write transaction)
    // waits for that lock. The runtime's only thread must stay free meanwhile: this
    // task's timer fires and it, not the busy timeout, releases the lock.
    let lake = t.lake.clone();
    let waiting = tokio::spawn(async move { lake.create_branch("dev", "main").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the branch creation finished (or failed) while the lock was held: it blocked \
         the runtime's thread until SQLite's busy timeout"
    );
    blocker
        .execute_batch("COMMIT")
        .expect("release the write lock");
    let created = waiting.await.expect("task");
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(
        t.lake.branch_head("dev").await.unwrap().id,
        t.lake.branch_head("main").await.unwrap().id
    );
    t.cleanup().await;
}
