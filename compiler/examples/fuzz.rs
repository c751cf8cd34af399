//! Fuzzing at scale (a bench, not CI): generated inputs through each front end, each
//! input's panic caught and counted. CI runs the short property tests in
//! `tests/front_end_fuzz.rs`; this runs millions.
//!
//!     cargo run --release -p sluice-compiler --example fuzz -- [COUNT] [SEED] [THREADS] [FRONTS] [STACK_KIB]
//!
//! COUNT inputs per front end (default 1,000,000), from SEED (default 1), on THREADS
//! threads (default: every core) with the stack `check` runs the front ends on, or
//! STACK_KIB KiB (2048: a test or tokio thread's); FRONTS limits the run to some front
//! ends (comma-separated: `python,sql,sluice.toml,bauplan_project.yml`; `all`, the
//! default, for every one). Input `i` of a front end is generated from
//! `(SEED, front end, i)` alone, so a reported panic replays with the same arguments.
//! Inputs mix grammar fragments, mutations of the fixture projects and random bytes.
//! Every minute a progress line gives the inputs done so far, and a panicking input's
//! index is printed when it panics, so a run stopped early still reports real counts.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_compiler::source::{FileId, LineIndex};
use sluice_compiler::{bauplan_project, config, syntax};

const PY_FIXTURE: &str = include_str!("../../tests/fixtures/check/ok_paper_listings/child.py");
const PY_SCHEMAS: &str = include_str!("../../tests/fixtures/check/ok_paper_listings/schemas.py");
const SQL_FIXTURE: &str =
    include_str!("../../tests/fixtures/check/ok_paper_listings/parent_table.sql");
const TOML_FIXTURE: &str = "[project]\nname = \"shop\"\n";
const YML_FIXTURE: &str = "project:\n  id: x\nparameters:\n  min_miles:\n    type: float\n    default: 1.5\n  name:\n    type: str\n    default: 'a'\n";

const PY_FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    "=",
    ",",
    ".",
    "|",
    "\n",
    "    ",
    "'",
    "\"",
    "#",
    "def ",
    "class ",
    "return ",
    "Schema",
    "Source(",
    "pl.col(\"a\")",
    ".select(",
    ".filter(",
    " > ",
    "-",
    "not ",
    "lambda: ",
    "None",
    "int",
    "str | None",
    "Optional[",
    "@",
    "df",
    "é",
    "🚚",
    "\\",
];
const SQL_FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "SELECT ",
    " FROM ",
    " WHERE ",
    " JOIN ",
    " ON ",
    " UNION ALL ",
    " WITH ",
    " AS ",
    "CASE WHEN ",
    " THEN ",
    " ELSE ",
    " END",
    " + ",
    " AND ",
    " || ",
    "::BIGINT",
    "-- t: S <- a\n",
    ",",
    ";",
    "*",
    "'",
    "\"",
    "a",
    "1",
    "raw.t",
    "NOT ",
    "- ",
    "é",
    "\n",
];
const TOML_FRAGMENTS: &[&str] = &[
    "[", "]", "[[", "]]", "{", "}", "=", "\"", "'", "\n", "project", "name", ".", ",", "1", "true",
    "#", "é",
];
const YML_FRAGMENTS: &[&str] = &[
    "parameters:\n",
    "project:\n",
    "  ",
    "type: ",
    "float",
    "default: ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "? ",
    "&a ",
    "*a",
    "!!int ",
    "|\n",
    "#",
    "---\n",
    "\t",
    "\n",
    "~",
    "'é🚚'",
];

/// SplitMix64: small, seedable, good enough to drive a generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, front: u64, i: u64) -> Rng {
        let mut r = Rng(seed
            ^ front.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One input: fragment soup, a mutated fixture, random bytes, or a deep repetition.
fn generate(rng: &mut Rng, fixtures: &[&str], fragments: &[&str]) -> String {
    match rng.below(4) {
        0 => (0..rng.below(80))
            .map(|_| fragments[rng.below(fragments.len())])
            .collect(),
        1 => {
            let mut text = fixtures[rng.below(fixtures.len())].to_owned();
            for _ in 0..1 + rng.below(6) {
                let at = text.floor_char_boundary(rng.below(text.len() + 1));
                match rng.below(3) {
                    0 => text.insert_str(at, fragments[rng.below(fragments.len())]),
                    1 => {
                        let end = text.floor_char_boundary(at + rng.below(40));
                        text.replace_range(at..end, "");
                    }
                    _ => {
                        let end = text.floor_char_boundary(at + rng.below(80));
                        let copy = text[at..end].to_owned();
                        text.insert_str(end, &copy);
                    }
                }
            }
            text
        }
        2 => {
            let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => {
            let open = fragments[rng.below(fragments.len())];
            let close = fragments[rng.below(fragments.len())];
            let n = rng.below(3_000);
            format!(
                "{}{}{}",
                open.repeat(n),
                fragments[rng.below(fragments.len())],
                close.repeat(n)
            )
        }
    }
}

type Front = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    fn(&str),
);

/// Seconds between progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let threads: usize = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let only: Option<Vec<&str>> = args
        .get(4)
        .filter(|a| a.as_str() != "all")
        .map(|a| a.split(',').collect());
    let stack = args
        .get(5)
        .and_then(|a| a.parse::<usize>().ok())
        .map_or(sluice_compiler::CHECK_STACK_SIZE, |kib| kib << 10);
    std::panic::set_hook(Box::new(|_| {}));
    let fronts: [Front; 4] = [
        ("python", &[PY_FIXTURE, PY_SCHEMAS], PY_FRAGMENTS, |t| {
            let _ = syntax::python::parse(FileId(0), t);
        }),
        ("sql", &[SQL_FIXTURE], SQL_FRAGMENTS, |t| {
            let _ = syntax::sql::parse(FileId(0), t, &LineIndex::new(t));
        }),
        ("sluice.toml", &[TOML_FIXTURE], TOML_FRAGMENTS, |t| {
            let _ = config::parse(FileId(0), t);
        }),
        ("bauplan_project.yml", &[YML_FIXTURE], YML_FRAGMENTS, |t| {
            let _ = bauplan_project::parse(FileId(0), t);
        }),
    ];
    if let Some(only) = &only
        && let Some(unknown) = only.iter().find(|o| !fronts.iter().any(|f| f.0 == **o))
    {
        eprintln!("fuzz: no front end `{unknown}` (python, sql, sluice.toml, bauplan_project.yml)");
        std::process::exit(2);
    }
    let mut total_panics = 0;
    for (front_no, (name, fixtures, fragments, run)) in fronts.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(name)) {
            continue;
        }
        let start = Instant::now();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let panics = Mutex::new(Vec::new());
        let report = |done: usize, panics: usize, what: &str| {
            println!(
                "{name}: {done} inputs, {panics} panics, {:.1} s (seed {seed}, {threads} \
                 threads, {} KiB stacks){what}",
                start.elapsed().as_secs_f64(),
                stack >> 10,
            );
        };
        std::thread::scope(|scope| {
            let mut workers = Vec::new();
            for _ in 0..threads {
                let builder = std::thread::Builder::new().stack_size(stack);
                let spawned = builder.spawn_scoped(scope, || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let mut rng = Rng::new(seed, front_no as u64, i as u64);
                        let input = generate(&mut rng, fixtures, fragments);
                        if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
                            println!("{name}: input {i} panicked");
                            panics.lock().unwrap_or_else(|e| e.into_inner()).push(i);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                });
                match spawned {
                    Ok(worker) => workers.push(worker),
                    Err(e) => {
                        eprintln!("fuzz: cannot start a thread: {e}");
                        std::process::exit(2);
                    }
                }
            }
            // Progress, so that a run stopped early still says how far it got.
            let mut last = Instant::now();
            while !workers.iter().all(|w| w.is_finished()) {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= PROGRESS_EVERY {
                    last = Instant::now();
                    let panicked = panics.lock().unwrap_or_else(|e| e.into_inner()).len();
                    report(done.load(Ordering::Relaxed), panicked, " so far");
                }
            }
        });
        let mut panics = panics.into_inner().unwrap_or_else(|e| e.into_inner());
        panics.sort_unstable();
        total_panics += panics.len();
        let first = if panics.is_empty() {
            String::new()
        } else {
            format!("; first inputs: {:?}", &panics[..panics.len().min(10)])
        };
        report(done.load(Ordering::Relaxed), panics.len(), &first);
    }
    if total_panics > 0 {
        std::process::exit(1);
    }
}
