//! Python nodes end to end: a real uv environment (built once into a cache shared by
//! these tests, under CARGO_TARGET_TMPDIR) and real worker processes.
//!
//! Needs `python3` and access to PyPI (uv is bootstrapped with pip when not on PATH).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use sluice_runtime::python::{
    DataFrameKind, EnvManager, EnvSpec, ErrorPhase, Isolation, NETWORK_DISABLED_MESSAGE, NodeJob,
    NodeOutput, PythonEnv, PythonError, WorkerInput, run_expectation, run_node,
};

const SECRET: &str = "SLUICE_TEST_SECRET";

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-cache")
}

fn manager() -> EnvManager {
    static SECRET_ONCE: Once = Once::new();
    SECRET_ONCE.call_once(|| {
        // SAFETY: set once, before this test starts any worker; std's environment
        // accessors are synchronized.
        unsafe { std::env::set_var(SECRET, "hunter2") };
    });
    EnvManager::new(cache_dir())
}

async fn default_env() -> PythonEnv {
    manager()
        .ensure(&EnvSpec::default())
        .await
        .unwrap_or_else(|e| panic!("building the default environment: {e}"))
}

async fn pandas_env() -> PythonEnv {
    let spec = EnvSpec::for_node(None, &BTreeMap::new(), DataFrameKind::Pandas);
    manager()
        .ensure(&spec)
        .await
        .unwrap_or_else(|e| panic!("building the pandas environment: {e}"))
}

fn listings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/check/ok_paper_listings")
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

fn input(param: &str, table: &str, batch: RecordBatch) -> WorkerInput {
    WorkerInput {
        param: param.into(),
        table: table.into(),
        schema: batch.schema(),
        batches: vec![batch],
    }
}

fn ints(param: &str, values: &[i64]) -> WorkerInput {
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap();
    input(param, "parent", batch)
}

fn job<'a>(
    root: &'a Path,
    file: &'a str,
    function: &'a str,
    inputs: Vec<WorkerInput>,
) -> NodeJob<'a> {
    NodeJob {
        project_root: root,
        file,
        function,
        inputs,
        params: BTreeMap::new(),
        tables: [
            "raw_table",
            "parent_table",
            "child_table",
            "grand_child",
            "family_friend",
            "parent",
        ]
        .map(|t| (t.to_string(), t.to_string()))
        .into(),
        dataframe: DataFrameKind::Polars,
        isolation: Isolation::default(),
        on_output: None,
    }
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// `parent_table` of the paper: col1 Utf8, col2 Timestamp(µs), _S Int64.
fn parent_table() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("col1", DataType::Utf8, false),
        Field::new("col2", ts_type(), false),
        Field::new("_S", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                1_000_000, 2_000_000, 3_000_000,
            ])),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
        ],
    )
    .unwrap()
}

fn single(out: &NodeOutput) -> RecordBatch {
    arrow::compute::concat_batches(&out.schema, &out.batches).unwrap()
}

fn fields(schema: &SchemaRef) -> Vec<(String, DataType)> {
    schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array =
        arrow::compute::cast(batch.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
    array
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

#[tokio::test]
async fn listing5_node_runs_on_polars() {
    let env = default_env().await;
    let root = listings();
    let out = run_node(
        &env,
        job(
            &root,
            "child.py",
            "child_table",
            vec![input("df", "parent_table", parent_table())],
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        fields(&out.schema),
        [
            ("col2".into(), ts_type()),
            ("col4".into(), DataType::Float64),
            ("col5".into(), DataType::Null)
        ]
    );
    assert_eq!(out.num_rows, 3);
    let batch = single(&out);
    assert_eq!(
        batch.column(1).as_primitive::<Float64Type>().values(),
        &[0.0; 3]
    );
    assert_eq!(batch.column(2).logical_null_count(), 3);
    assert!(out.bytes_in > 0 && out.bytes_out > 0);
    assert!(out.timings.total >= out.timings.compute);

    // Listing 5's second node: arrow_cast(col("col4"), str_lit("Int64")).
    let child = batch.project(&[0, 1]).unwrap();
    let out = run_node(
        &env,
        job(
            &root,
            "child.py",
            "grand_child",
            vec![input("df", "child_table", child)],
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        fields(&out.schema),
        [("col2".into(), ts_type()), ("col4".into(), DataType::Int64)]
    );
}

#[tokio::test]
async fn listing11_join_filter_select_with_two_inputs() {
    let env = default_env().await;
    let root = listings();
    let ts = |v: Vec<i64>| Arc::new(TimestampMicrosecondArray::from(v));
    let child = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("col2", ts_type(), false),
            Field::new("col4", DataType::Float64, false),
            Field::new("col5", DataType::Utf8, true),
        ])),
        vec![
            ts(vec![1, 2, 3, 4]),
            Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0])),
            Arc::new(StringArray::from(vec![
                Some("x"),
                None,
                Some("z"),
                Some("w"),
            ])),
        ],
    )
    .unwrap();
    let grand = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("col2", ts_type(), false),
            Field::new("col4", DataType::Int64, false),
        ])),
        vec![
            ts(vec![1, 2, 3, 4]),
            Arc::new(Int64Array::from(vec![1, 2, 9, 3])),
        ],
    )
    .unwrap();
    let out = run_node(
        &env,
        job(
            &root,
            "family.py",
            "family_friend",
            vec![
                input("df_child", "child_table", child),
                input("df_grand", "grand_child", grand),
            ],
        ),
    )
    .await
    .unwrap();
    let batch = single(&out);
    assert_eq!(
        fields(&out.schema)[..2],
        [("col2".into(), ts_type()), ("col4".into(), DataType::Int64)]
    );
    // Row 2 has a null col5, row 3 a too-large difference: rows 1 and 4 remain.
    assert_eq!(
        batch.column(1).as_primitive::<Int64Type>().values(),
        &[1, 3]
    );
    assert_eq!(
        strings(&batch, "col5"),
        [Some("x".into()), Some("w".into())]
    );
}

#[tokio::test]
async fn bare_name_defaults_resolve_across_project_modules() {
    let env = default_env().await;
    let dir = project(&[
        ("child.py", "def child_table(df=parent):\n    return df\n"),
        (
            "pkg/mod.py",
            "from sluice import Table, TableRef\nfrom child import child_table\n\n\
             def grand(df=parent, other=Table(\"parent\"), n=0):\n    \
             import inspect\n    d = inspect.signature(grand).parameters['df'].default\n    \
             assert d == TableRef('parent'), d\n    \
             return child_table(df).with_columns((df['a'] * n).alias('b'))\n",
        ),
    ]);
    let mut job = job(
        dir.path(),
        "pkg/mod.py",
        "grand",
        vec![ints("df", &[1, 2]), ints("other", &[0])],
    );
    job.params.insert("n".into(), serde_json::json!(10));
    job.params
        .insert("unused".into(), serde_json::json!("ignored"));
    let out = run_node(&env, job).await.unwrap();
    let batch = single(&out);
    assert_eq!(
        batch.column(1).as_primitive::<Int64Type>().values(),
        &[10, 20]
    );

    // A name that is not a table is still a NameError, at its line.
    let dir = project(&[(
        "n.py",
        "x = 1\n\ndef node(df=not_a_table):\n    return df\n",
    )]);
    let err = run_node(&env, job_in(dir.path(), "n.py", "node"))
        .await
        .unwrap_err();
    let PythonError::UserCode(e) = err else {
        panic!("{err}")
    };
    assert_eq!(
        (e.type_name.as_str(), e.phase),
        ("NameError", ErrorPhase::Load)
    );
    assert_eq!((e.file.as_deref(), e.line), (Some("n.py"), Some(3)));
}

fn job_in<'a>(root: &'a Path, file: &'a str, function: &'a str) -> NodeJob<'a> {
    job(root, file, function, vec![ints("df", &[1, 2, 3])])
}

#[tokio::test]
async fn pyarrow_input_kind() {
    let env = default_env().await;
    let dir = project(&[(
        "n.py",
        "import pyarrow as pa\nimport pyarrow.compute as pc\n\n\
         def node(df=parent):\n    assert isinstance(df, pa.Table), type(df)\n    \
         return df.append_column('b', pc.multiply(df['a'], 2))\n",
    )]);
    let mut job = job_in(dir.path(), "n.py", "node");
    job.dataframe = DataFrameKind::PyArrow;
    let out = run_node(&env, job).await.unwrap();
    assert_eq!(
        single(&out).column(1).as_primitive::<Int64Type>().values(),
        &[2, 4, 6]
    );
}

#[tokio::test]
async fn pandas_input_kind() {
    let env = pandas_env().await;
    let dir = project(&[(
        "n.py",
        "import pandas as pd\n\n\
         def node(df=parent):\n    assert isinstance(df, pd.DataFrame), type(df)\n    \
         df['b'] = df['a'] + 0.5\n    return df\n",
    )]);
    let mut job = job_in(dir.path(), "n.py", "node");
    job.dataframe = DataFrameKind::Pandas;
    let out = run_node(&env, job).await.unwrap();
    assert_eq!(
        fields(&out.schema),
        [
            ("a".into(), DataType::Int64),
            ("b".into(), DataType::Float64)
        ]
    );
    assert_eq!(
        single(&out)
            .column(1)
            .as_primitive::<Float64Type>()
            .values(),
        &[1.5, 2.5, 3.5]
    );
}

#[tokio::test]
async fn objects_exporting_the_arrow_pycapsule_interface() {
    let env = default_env().await;
    let dir = project(&[(
        "n.py",
        "import polars as pl\nimport pyarrow as pa\n\n\
         class Stream:\n    def __init__(self, t):\n        self.t = t\n    \
         def __arrow_c_stream__(self, requested_schema=None):\n        \
         return self.t.__arrow_c_stream__(requested_schema)\n\n\
         def node(df=parent):\n    return Stream(pa.table({'s': ['x', None], 'n': [1.0, 2.0]}))\n\n\
         def lazy(df=parent):\n    return df.lazy().select(pl.col('a').sum().alias('total'))\n",
    )]);
    let out = run_node(&env, job_in(dir.path(), "n.py", "node"))
        .await
        .unwrap();
    assert_eq!(
        fields(&out.schema),
        [
            ("s".into(), DataType::Utf8),
            ("n".into(), DataType::Float64)
        ]
    );
    assert_eq!(strings(&single(&out), "s"), [Some("x".into()), None]);

    let out = run_node(&env, job_in(dir.path(), "n.py", "lazy"))
        .await
        .unwrap();
    assert_eq!(
        single(&out).column(0).as_primitive::<Int64Type>().values(),
        &[6]
    );
}

#[tokio::test]
async fn user_exceptions_carry_file_line_and_traceback() {
    let env = default_env().await;
    let dir = project(&[
        ("helpers.py", "def divide(x):\n    return x / 0\n"),
        (
            "nodes/n.py",
            "from helpers import divide\n\ndef node(df=parent):\n    print('about to fail')\n    \
             return divide(1)\n",
        ),
    ]);
    let err = run_node(&env, job_in(dir.path(), "nodes/n.py", "node"))
        .await
        .unwrap_err();
    let PythonError::UserCode(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.phase, ErrorPhase::Call);
    assert_eq!(e.type_name, "ZeroDivisionError");
    assert_eq!(e.message, "division by zero");
    assert_eq!((e.file.as_deref(), e.line), (Some("helpers.py"), Some(2)));
    assert!(
        e.traceback.contains("nodes/n.py\", line 5, in node"),
        "{}",
        e.traceback
    );
    assert!(!e.traceback.contains("_worker.py"), "{}", e.traceback);
    assert_eq!(e.logs.stdout, "about to fail\n");
    let text = err.to_string();
    assert!(
        text.contains("ZeroDivisionError: division by zero (in node, helpers.py:2)"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_return_values_and_crashes() {
    let env = default_env().await;
    let dir = project(&[(
        "n.py",
        "import os\n\ndef number(df=parent):\n    return 42\n\n\
         def dies(df=parent):\n    os.kill(os.getpid(), 9)\n\n\
         def exits(df=parent):\n    os._exit(3)\n",
    )]);
    let err = run_node(&env, job_in(dir.path(), "n.py", "number"))
        .await
        .unwrap_err();
    let PythonError::BadReturn(e) = &err else {
        panic!("{err}")
    };
    assert!(e.message.contains("number returned int;"), "{}", e.message);

    let err = run_node(&env, job_in(dir.path(), "n.py", "dies"))
        .await
        .unwrap_err();
    let PythonError::Crashed(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.signal, Some(9));

    let err = run_node(&env, job_in(dir.path(), "n.py", "exits"))
        .await
        .unwrap_err();
    let PythonError::Crashed(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.code, Some(3));

    let err = run_node(&env, job_in(dir.path(), "n.py", "missing"))
        .await
        .unwrap_err();
    let PythonError::UserCode(e) = &err else {
        panic!("{err}")
    };
    assert!(
        e.message.contains("defines no function missing"),
        "{}",
        e.message
    );
}

const NET_NODE: &str = "import socket, sys\n\n\
def node(df=parent):\n    port = int(df['a'][0])\n    \
with socket.create_connection(('127.0.0.1', port), timeout=5):\n        pass\n    \
return df\n\n\
def raw(df=parent):\n    import ctypes\n    \
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n    \
libc = ctypes.CDLL(None, use_errno=True)\n    \
addr = bytes([2, 0]) + int(df['a'][0]).to_bytes(2, 'big') + bytes([127, 0, 0, 1]) + bytes(8)\n    \
rc = libc.connect(s.fileno(), ctypes.c_char_p(addr), 16)\n    \
assert rc != 0, 'connected despite the namespace'\n    \
return df\n";

#[tokio::test]
async fn network_is_disabled_unless_allowed() {
    let env = default_env().await;
    let dir = project(&[("n.py", NET_NODE)]);
    // PostgreSQL's port: refused by the audit hook before anything is sent.
    let err = run_node(
        &env,
        job(dir.path(), "n.py", "node", vec![ints("df", &[5432])]),
    )
    .await
    .unwrap_err();
    let PythonError::UserCode(e) = &err else {
        panic!("{err}")
    };
    assert!(
        e.message.contains(NETWORK_DISABLED_MESSAGE),
        "{}",
        e.message
    );
    assert!(
        e.type_name.ends_with("NetworkDisabledError"),
        "{}",
        e.type_name
    );

    // Bypassing the audit hook (libc's connect): the network namespace refuses.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = i64::from(listener.local_addr().unwrap().port());
    run_node(
        &env,
        job(dir.path(), "n.py", "raw", vec![ints("df", &[port])]),
    )
    .await
    .unwrap();

    // With --allow-network the node reaches a listener of this test.
    let accept = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
    let mut allowed = job(dir.path(), "n.py", "node", vec![ints("df", &[port])]);
    allowed.isolation.allow_network = true;
    run_node(&env, allowed).await.unwrap();
    accept.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_worker_sees_a_clean_environment() {
    let env = default_env().await;
    assert_eq!(std::env::var(SECRET).as_deref(), Ok("hunter2"));
    let dir = project(&[(
        "n.py",
        "import os, sys, polars as pl\n\n\
         def node(df=parent):\n    \
         keys = sorted(os.environ)\n    n = len(keys)\n    \
         return pl.DataFrame({'key': keys, 'cwd': [os.getcwd()] * n, \
         'home': [os.environ['HOME']] * n, 'tmp': [os.environ['TMPDIR']] * n})\n",
    )]);
    let out = run_node(&env, job_in(dir.path(), "n.py", "node"))
        .await
        .unwrap();
    let batch = single(&out);
    let keys: Vec<String> = strings(&batch, "key").into_iter().flatten().collect();
    assert!(!keys.iter().any(|k| k == SECRET), "{keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("CARGO")), "{keys:?}");
    for key in ["PATH", "HOME", "TMPDIR", "LANG", "PYTHONNOUSERSITE"] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
    let cwd = strings(&batch, "cwd")[0].clone().unwrap();
    assert!(
        strings(&batch, "home")[0]
            .as_ref()
            .unwrap()
            .starts_with(&cwd)
    );
    assert!(
        strings(&batch, "tmp")[0]
            .as_ref()
            .unwrap()
            .starts_with(&cwd)
    );
    assert!(
        !Path::new(&cwd).exists(),
        "the scratch directory {cwd} was not removed"
    );
}

#[tokio::test]
async fn expectations_pass_fail_or_err() {
    // numpy comes with pandas (the default environment has neither).
    let env = pandas_env().await;
    let dir = project(&[(
        "e.py",
        "import numpy as np\n\n\
         def positive(df=parent):\n    return bool((df['a'] > 0).all())\n\n\
         def large(df=parent):\n    return np.bool_(df['a'].sum() > 100)\n\n\
         def count(df=parent):\n    return df.height\n",
    )]);
    let outcome = run_expectation(&env, job_in(dir.path(), "e.py", "positive"))
        .await
        .unwrap();
    assert!(outcome.passed);
    let outcome = run_expectation(&env, job_in(dir.path(), "e.py", "large"))
        .await
        .unwrap();
    assert!(!outcome.passed);
    let err = run_expectation(&env, job_in(dir.path(), "e.py", "count"))
        .await
        .unwrap_err();
    let PythonError::BadReturn(e) = &err else {
        panic!("{err}")
    };
    assert!(
        e.message.contains("returned int; it must return a bool"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn environments_are_cached() {
    let manager = manager();
    let first = manager.ensure(&EnvSpec::default()).await.unwrap();
    let before = std::fs::metadata(&first.root).unwrap();
    let second = manager.ensure(&EnvSpec::default()).await.unwrap();
    let after = std::fs::metadata(&second.root).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
    // A fresh manager (another process) finds it too.
    let third = EnvManager::new(cache_dir())
        .ensure(&EnvSpec::default())
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&third.root).unwrap().ino(), before.ino());
    assert!(first.python.starts_with(&first.root));
    let site = std::fs::read_dir(first.root.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(site.join("site-packages/sluice/_worker.py").is_file());
}

#[tokio::test]
async fn concurrent_builds_of_one_environment_both_succeed() {
    // A spec of its own (the running interpreter's major.minor, pinned), built by two
    // managers at once.
    let env = default_env().await;
    let version = std::process::Command::new(&env.python)
        .args([
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ])
        .output()
        .unwrap();
    let spec = EnvSpec {
        python_version: Some(
            String::from_utf8(version.stdout)
                .unwrap()
                .trim()
                .to_string(),
        ),
        packages: BTreeMap::new(),
    };
    let (a, b) = (EnvManager::new(cache_dir()), EnvManager::new(cache_dir()));
    let (ra, rb) = tokio::join!(a.ensure(&spec), b.ensure(&spec));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra, rb);
    assert!(ra.python.is_file());
    let leftovers: Vec<_> = std::fs::read_dir(cache_dir().join("envs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".tmp-{}", ra.hash)))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn environment_errors_name_what_failed() {
    let manager = manager();
    let missing = EnvSpec {
        python_version: Some("3.99".into()),
        packages: BTreeMap::new(),
    };
    let err = manager.ensure(&missing).await.unwrap_err();
    assert!(
        matches!(&err, PythonError::InterpreterNotFound { requested, .. } if requested == "3.99"),
        "{err}"
    );
    assert!(
        err.to_string().contains("Python 3.99 is not installed"),
        "{err}"
    );

    let impossible = EnvSpec {
        python_version: None,
        packages: BTreeMap::from([("polars".to_string(), "999.0".to_string())]),
    };
    let err = manager.ensure(&impossible).await.unwrap_err();
    let PythonError::EnvBuild(e) = &err else {
        panic!("{err}")
    };
    assert!(
        e.packages.contains(&"polars==999.0".to_string()),
        "{:?}",
        e.packages
    );
    assert!(e.stderr_tail.contains("polars"), "{}", e.stderr_tail);

    let invalid = EnvSpec {
        python_version: None,
        packages: BTreeMap::from([("polars".to_string(), "latest".to_string())]),
    };
    assert!(matches!(
        manager.ensure(&invalid).await,
        Err(PythonError::InvalidRequirement { .. })
    ));
}

#[tokio::test]
async fn many_types_round_trip() {
    let env = default_env().await;
    let dir = project(&[("n.py", "def node(df=parent):\n    return df\n")]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Date32, true),
        Field::new("dec", DataType::Decimal128(12, 2), true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(StringArray::from(vec![Some("é"), None])),
            Arc::new(arrow::array::Date32Array::from(vec![Some(19000), None])),
            Arc::new(
                arrow::array::Decimal128Array::from(vec![Some(12345), None])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ],
    )
    .unwrap();
    let out = run_node(
        &env,
        job(
            dir.path(),
            "n.py",
            "node",
            vec![input("df", "parent", batch.clone())],
        ),
    )
    .await
    .unwrap();
    let got = single(&out);
    for (i, field) in batch.schema().fields().iter().enumerate() {
        let back = arrow::compute::cast(got.column(i), field.data_type()).unwrap();
        assert_eq!(&back, batch.column(i), "{}", field.name());
    }
}

/// An identity node returns what it was given, whatever the input's shape: no
/// batch at all, one empty batch, several batches (each DataFrame kind).
#[tokio::test]
async fn identity_nodes_return_empty_and_chunked_inputs() {
    let env = default_env().await;
    let dir = project(&[(
        "n.py",
        "def node(df=parent):\n    return df\n\n\
         def kind(df=parent):\n    import polars as pl\n    \
         return pl.DataFrame({'kind': [type(df).__module__.split('.')[0]], 'rows': [len(df)]})\n",
    )]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, false),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = |from: i64, rows: i64| {
        let ints: Vec<i64> = (from..from + rows).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ints.clone())),
                Arc::new(Float64Array::from(
                    ints.iter()
                        .map(|&i| (i % 3 != 0).then_some(i as f64 / 2.0))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    ints.iter()
                        .map(|&i| (i % 4 != 0).then(|| format!("v{i}")))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    };
    let cases: [(&str, Vec<RecordBatch>); 3] = [
        ("no batch", vec![]),
        ("an empty batch", vec![batch(0, 0)]),
        (
            "three batches",
            vec![batch(0, 5), batch(5, 0), batch(5, 1000)],
        ),
    ];
    for kind in [DataFrameKind::Polars, DataFrameKind::PyArrow] {
        for (case, batches) in &cases {
            let what = format!("{} input, {case}", kind.as_str());
            let input = WorkerInput {
                param: "df".into(),
                table: "parent".into(),
                schema: schema.clone(),
                batches: batches.clone(),
            };
            let expected = arrow::compute::concat_batches(&schema, batches).unwrap();

            let mut seen = job(dir.path(), "n.py", "kind", vec![input.clone()]);
            seen.dataframe = kind;
            let seen = single(&run_node(&env, seen).await.unwrap());
            assert_eq!(
                strings(&seen, "kind"),
                [Some(kind.as_str().to_string())],
                "{what}"
            );
            assert_eq!(
                seen.column(1).as_primitive::<Int64Type>().values(),
                &[expected.num_rows() as i64],
                "{what}"
            );

            let mut identity = job(dir.path(), "n.py", "node", vec![input]);
            identity.dataframe = kind;
            let out = run_node(&env, identity).await.unwrap();
            assert_eq!(out.num_rows, expected.num_rows(), "{what}");
            assert_eq!(
                out.schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>(),
                ["i", "f", "s"],
                "{what}"
            );
            let got = arrow::compute::concat_batches(&out.schema, &out.batches).unwrap();
            for (i, field) in schema.fields().iter().enumerate() {
                let back = arrow::compute::cast(got.column(i), field.data_type()).unwrap();
                assert_eq!(&back, expected.column(i), "{what}: {}", field.name());
            }
        }
    }
}

/// A large input is written as several files in parallel (one per core, 64 MiB at
/// least each); the worker must see them as one table, in order.
#[tokio::test]
async fn large_inputs_arrive_whole_and_in_order() {
    let env = default_env().await;
    let dir = project(&[(
        "n.py",
        "def node(df=parent):\n    return df\n\n\
         def rows(df=parent):\n    import os\n    import polars as pl\n    \
         files = [f for f in os.listdir('.') if f.startswith('in-')]\n    \
         return pl.DataFrame({'rows': [len(df)], 'files': [len(files)]})\n",
    )]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("batch", DataType::Utf8, false),
    ]));
    let rows = 1 << 20;
    let batches: Vec<RecordBatch> = (0..10)
        .map(|b| {
            let ids = Int64Array::from_iter_values(b * rows..(b + 1) * rows);
            let label = StringArray::from(vec![format!("b{b}"); rows as usize]);
            RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(label)]).unwrap()
        })
        .collect();
    let expected = arrow::compute::concat_batches(&schema, &batches).unwrap();
    for kind in [DataFrameKind::Polars, DataFrameKind::PyArrow] {
        let input = WorkerInput {
            param: "df".into(),
            table: "parent".into(),
            schema: schema.clone(),
            batches: batches.clone(),
        };
        let mut counted = job(dir.path(), "n.py", "rows", vec![input.clone()]);
        counted.dataframe = kind;
        let counted = single(&run_node(&env, counted).await.unwrap());
        assert_eq!(
            counted.column(0).as_primitive::<Int64Type>().values(),
            &[expected.num_rows() as i64],
            "{}",
            kind.as_str()
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            counted.column(1).as_primitive::<Int64Type>().values(),
            &[cores.min(2) as i64],
            "input files"
        );

        let mut identity = job(dir.path(), "n.py", "node", vec![input]);
        identity.dataframe = kind;
        let out = run_node(&env, identity).await.unwrap();
        assert!(
            out.bytes_in > 2 * (64 << 20),
            "two parts at least: {}",
            out.bytes_in
        );
        let got = single(&out);
        for (i, field) in schema.fields().iter().enumerate() {
            let back = arrow::compute::cast(got.column(i), field.data_type()).unwrap();
            assert_eq!(
                &back,
                expected.column(i),
                "{}: {}",
                kind.as_str(),
                field.name()
            );
        }
    }
}

#[tokio::test]
async fn a_node_pinning_polars_1_0_runs_listing5() {
    // `@python(pip={"polars": "1.0"})`, as in the paper: polars==1.0 (1.0.0).
    let pip = BTreeMap::from([("polars".to_string(), "1.0".to_string())]);
    let env = manager()
        .ensure(&EnvSpec::for_node(None, &pip, DataFrameKind::Polars))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let root = listings();
    let out = run_node(
        &env,
        job(
            &root,
            "child.py",
            "child_table",
            vec![input("df", "parent_table", parent_table())],
        ),
    )
    .await
    .unwrap();
    assert_eq!(out.num_rows, 3);
    assert_eq!(
        fields(&out.schema),
        [
            ("col2".into(), ts_type()),
            ("col4".into(), DataType::Float64),
            ("col5".into(), DataType::Null)
        ]
    );
    let dir = project(&[(
        "v.py",
        "import polars as pl\n\ndef node(df=parent):\n    return pl.DataFrame({'v': [pl.__version__]})\n",
    )]);
    let out = run_node(&env, job_in(dir.path(), "v.py", "node"))
        .await
        .unwrap();
    assert_eq!(strings(&single(&out), "v"), [Some("1.0.0".to_string())]);
}
