//! `sluice init [DIR] [--lake]`: scaffold a small project that checks clean and runs,
//! and `sluice completions SHELL`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sluice_lake::{ImportMode, Lake, LakeConfig};

use crate::exit;

#[derive(clap::Args)]
pub struct InitArgs {
    /// The folder to scaffold (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Also create the project's embedded lake (DIR/.sluice, named in sluice.toml)
    /// and import the sample orders into it, so `sluice run` works at once.
    #[arg(long)]
    lake: bool,
}

/// The files of a new project: path in the project and content.
const FILES: &[(&str, &str)] = &[
    ("schemas.py", include_str!("init/schemas.py")),
    (
        "customer_totals.sql",
        include_str!("init/customer_totals.sql"),
    ),
    ("shares.py", include_str!("init/shares.py")),
    ("data/orders.csv", include_str!("init/orders.csv")),
];

/// The project's lake folder, relative to sluice.toml.
const LAKE_DIR: &str = ".sluice";

fn sluice_toml(name: &str) -> String {
    let name = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "# The lake the CLI uses for this project (--lake and SLUICE_LAKE override it)\n\
         # and the default ref of `sluice run` and the lake commands.\n\
         lake = \"{LAKE_DIR}\"\n\
         ref = \"main\"\n\n\
         [project]\n\
         name = \"{name}\"\n"
    )
}

/// Scaffolds the project; refuses (exit 1) if any file it would write exists.
pub fn run(args: InitArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!("{} exists and is not a folder", dir.display());
    }
    let name = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".to_string());
    let toml = sluice_toml(&name);
    let mut planned: Vec<(PathBuf, &str)> = vec![(dir.join("sluice.toml"), toml.as_str())];
    planned.extend(FILES.iter().map(|(p, text)| (dir.join(p), *text)));
    let mut existing: Vec<String> = planned
        .iter()
        .filter(|(p, _)| p.symlink_metadata().is_ok())
        .map(|(p, _)| p.display().to_string())
        .collect();
    let lake_dir = dir.join(LAKE_DIR);
    if args.lake && lake_dir.symlink_metadata().is_ok() {
        existing.push(lake_dir.display().to_string());
    }
    if !existing.is_empty() {
        eprintln!(
            "error: sluice init would overwrite {}; nothing was written (choose an empty folder, e.g. `sluice init NEW_DIR`)",
            existing.join(", ")
        );
        return Ok(exit::FAILED);
    }
    for (path, text) in &planned {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        // `create_new`: a file that appeared since the check is not overwritten.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let names: Vec<String> = std::iter::once("sluice.toml".to_string())
        .chain(FILES.iter().map(|(p, _)| p.to_string()))
        .collect();
    crate::outln!(
        "created a sluice project in {}: {}",
        dir.display(),
        names.join(", ")
    );
    if args.lake {
        let rows = create_lake(&lake_dir, &dir.join("data/orders.csv"))?;
        crate::outln!(
            "created the lake {} with table `orders` ({rows} rows) on main",
            lake_dir.display()
        );
    }
    if let Some(warning) = env_lake_warning(&lake_dir, args.lake) {
        eprintln!("{warning}");
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("  cd {}\n", dir.display())
    };
    let import = if args.lake {
        ""
    } else {
        "  sluice import data/orders.csv --table orders\n"
    };
    crate::out!("next:\n{cd}  sluice check\n{import}  sluice run\n");
    Ok(exit::OK)
}

/// The warning `init` gives when `$SLUICE_LAKE` names another lake than the one the
/// new `sluice.toml` names (`lake_dir`): the environment takes precedence over
/// `sluice.toml` (flag > `SLUICE_LAKE` > `sluice.toml` > `./.sluice`), so the project's
/// commands would use `$SLUICE_LAKE`'s lake. `None` when it is unset, empty or the
/// same folder.
fn env_lake_warning(lake_dir: &Path, created: bool) -> Option<String> {
    let env = std::env::var("SLUICE_LAKE")
        .ok()
        .filter(|s| !s.is_empty())?;
    let same = |a: &Path, b: &Path| match (std::path::absolute(a), std::path::absolute(b)) {
        (Ok(a), Ok(b)) => a.components().eq(b.components()),
        _ => false,
    };
    let env_path = env.strip_prefix("file://").unwrap_or(&env);
    let local = !env.contains("://") || env.starts_with("file://");
    if local && same(Path::new(env_path), lake_dir) {
        return None;
    }
    let shown = sluice_lake::config::redact(&env);
    let project_lake = if created {
        format!(
            "the lake just created at {} (with `orders`)",
            lake_dir.display()
        )
    } else {
        format!("{}, the lake sluice.toml names", lake_dir.display())
    };
    Some(format!(
        "warning: SLUICE_LAKE is set ({shown}), and it takes precedence over sluice.toml: \
         sluice commands will use {shown}, not {project_lake}; unset SLUICE_LAKE to use the project's lake."
    ))
}

/// Creates the embedded lake at `lake_dir` and imports the sample orders.
fn create_lake(lake_dir: &Path, csv: &Path) -> anyhow::Result<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let uri = lake_dir.display().to_string();
        let config = LakeConfig::from_uri(&uri, None)?;
        let lake = Lake::open(&config).await?;
        let commit = lake
            .import_file_as(csv, "orders", "main", ImportMode::Create, None)
            .await?;
        let snapshot = commit
            .tables()
            .get("orders")
            .cloned()
            .context("the import committed no table `orders`")?;
        Ok(lake.snapshot(&snapshot).await?.content.rows)
    })
}

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script of `shell` for every command and option.
pub fn completions(args: CompletionsArgs) -> u8 {
    use clap::CommandFactory;
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "sluice", &mut script);
    crate::output::write(&script);
    exit::OK
}
