//! `sluice`: the command-line front door. The only crate that prints.

pub mod output;

mod check;
mod ci;
mod cluster_cmds;
mod init;
mod lake_cmds;
mod lake_loc;
mod mcp;
mod plan;
mod run_cmds;
mod serve;
mod tpch;

use std::process::ExitCode;

/// mimalloc, not glibc's malloc: the compiler's analyses make many small, short-lived
/// allocations on several threads, where it is markedly faster (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A code-first lakehouse: typed pipelines, Git for data, transactional runs",
    after_help = "Exit codes: 0 success (warnings allowed), 1 errors found or an operation \
                  refused, 2 usage or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scaffold a small project that checks clean and runs (schemas, a SQL node, a
    /// Python node, sluice.toml); `--lake` also creates its embedded lake.
    Init(init::InitArgs),
    /// Check a pipeline project: syntax, names, the DAG and every edge contract.
    Check(check::CheckArgs),
    /// Print the typed plan: nodes, schemas, edges, order, deferred obligations, lineage.
    Plan(plan::PlanArgs),
    /// Print a column's lineage back to the sources, or forward to what it reaches.
    #[command(allow_missing_positional = true)]
    Lineage(plan::LineageArgs),
    /// Run a project: check it, execute it on a fresh branch, validate every output,
    /// publish all outputs to the target in one merge, or nothing.
    Run(run_cmds::RunArgs),
    /// List recorded runs, newest first (id, status, start, project -> target, nodes,
    /// result commit), or show one (`sluice runs show RUN_ID`).
    Runs(run_cmds::RunsArgs),
    /// Run a recorded run's code again against its base commit and compare outputs.
    Rerun(run_cmds::RerunArgs),
    /// Serve the language server protocol on stdin/stdout: live diagnostics in editors
    /// (docs/editors.md).
    Lsp,
    /// Serve the Model Context Protocol on stdin/stdout for coding agents: check, plan,
    /// branches, queries and runs as tools; writes to main refused (docs/agents.md).
    Mcp(mcp::McpArgs),
    /// Serve the lake's tables as Apache Iceberg tables through an Iceberg REST
    /// catalog: `http://HOST:PORT/iceberg` is main, `.../iceberg/REF` any branch, tag
    /// or commit; read-only, zero-copy (docs/interop.md).
    Serve(serve::ServeArgs),
    /// Run a process of a DataFusion Ballista cluster that runs queries
    /// (`--engine ballista://HOST:PORT`): its scheduler, or an executor.
    #[cfg(feature = "cluster")]
    #[command(subcommand)]
    Cluster(cluster_cmds::ClusterCommand),
    #[command(flatten)]
    Lake(lake_cmds::LakeCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(init::CompletionsArgs),
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For agents and CI: one JSON document on stdout.
    Json,
}

/// When to color human output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
            }
        }
    }
}

/// Exit codes shared by every command.
pub mod exit {
    /// Success (warnings allowed).
    pub const OK: u8 = 0;
    /// The command ran and found errors (or an operation was refused).
    pub const FAILED: u8 = 1;
    /// Usage or I/O failure.
    pub const USAGE: u8 = 2;
}

fn main() -> ExitCode {
    let code = dispatch();
    if let Some(failure) = output::failure() {
        eprintln!("error: cannot write to stdout: {failure}");
        return ExitCode::from(exit::USAGE);
    }
    code
}

fn dispatch() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap's own rendering: --help and --version on stdout (exit 0); usage
            // errors on stderr naming the missing argument, the valid values or the
            // command meant (exit 2).
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = match cli.command {
        Command::Init(args) => init::run(args),
        Command::Completions(args) => return ExitCode::from(init::completions(args)),
        Command::Check(args) => check::run(args),
        Command::Plan(args) => plan::run_plan(args),
        Command::Lineage(args) => plan::run_lineage(args),
        Command::Lake(cmd) => return lake_cmds::run(cmd),
        Command::Run(args) => return run_cmds::run(args),
        Command::Runs(args) => return run_cmds::runs(args),
        Command::Rerun(args) => return run_cmds::rerun(args),
        Command::Lsp => return lsp(),
        Command::Mcp(args) => return mcp::run(args),
        Command::Serve(args) => return serve::run(args),
        #[cfg(feature = "cluster")]
        Command::Cluster(cmd) => return cluster_cmds::run(cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// A multi-threaded tokio runtime for a long-running command; `None` (the error
/// printed) when it cannot start.
pub(crate) fn async_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}

/// `sluice lsp`: 0 after `shutdown` and `exit`, 1 when the client exits without
/// `shutdown` or goes away, 2 when the transport fails.
fn lsp() -> ExitCode {
    match sluice_lsp::run_stdio() {
        Ok(ending) if ending.is_clean() => ExitCode::from(exit::OK),
        Ok(_) => ExitCode::from(exit::FAILED),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(exit::USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every argument and subcommand of every command says what it is.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "sluice", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }
}
