//! `sluice check`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use sluice_compiler::diagnostic::{JsonReport, RenderOptions, render_human};

use crate::{ColorChoice, Format, exit};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The project folder (default: the nearest folder from the current one upward
    /// that holds sluice.toml or bauplan_project.yml, else the current folder).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: CheckFormat,
    /// Color human output.
    #[arg(long, value_enum, default_value_t)]
    color: ColorChoice,
}

/// How `sluice check` prints its diagnostics (docs/ci.md for the CI formats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// For people: diagnostics with source snippets, then a summary.
    #[default]
    Text,
    /// The JSON report of docs/language.md, for agents and tools.
    Json,
    /// GitHub Actions workflow commands: annotations on the pull request's diff.
    Github,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML test report (errors are failures, warnings skipped cases).
    Junit,
    /// GitLab Code Quality JSON.
    Gitlab,
}

pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let project = crate::lake_loc::project_dir(args.dir.clone());
    let sources = sluice_compiler::load_project(&project)?;
    let analysis = sluice_compiler::check(&sources);
    let dir = project.as_path();
    match args.format {
        CheckFormat::Text => print_report(&sources, &analysis, Format::Text, args.color)?,
        CheckFormat::Json => print_report(&sources, &analysis, Format::Json, args.color)?,
        CheckFormat::Github => {
            crate::output::write(crate::ci::github(&analysis, &sources, dir).as_bytes())
        }
        CheckFormat::Junit => crate::output::write(
            crate::ci::junit(&analysis, &sources, dir, analysis.summary).as_bytes(),
        ),
        CheckFormat::Sarif => {
            let doc = crate::ci::sarif(&analysis, &sources, dir);
            crate::output::write(format!("{}\n", serde_json::to_string_pretty(&doc)?).as_bytes())
        }
        CheckFormat::Gitlab => {
            let doc = crate::ci::gitlab(&analysis, &sources, dir);
            crate::output::write(format!("{}\n", serde_json::to_string_pretty(&doc)?).as_bytes())
        }
    }
    Ok(if analysis.summary.errors > 0 {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// Prints diagnostics and the summary, as text or as the JSON report.
pub fn print_report(
    sources: &sluice_compiler::SourceSet,
    analysis: &sluice_compiler::Analysis,
    format: Format,
    color: ColorChoice,
) -> anyhow::Result<()> {
    let mut out = Vec::new();
    match format {
        Format::Json => {
            let report = JsonReport::new(&analysis.diagnostics, sources, analysis.summary);
            serde_json::to_writer_pretty(&mut out, &report).context("writing the report")?;
            writeln!(out)?;
        }
        Format::Text => {
            let opts = RenderOptions {
                color: color.enabled(),
                ..RenderOptions::default()
            };
            for diagnostic in &analysis.diagnostics {
                write!(out, "{}", render_human(diagnostic, sources, opts))?;
                writeln!(out)?;
            }
            let counts = sluice_compiler::contracts::count(analysis.contracts.obligations());
            writeln!(
                out,
                "{}; {} proven, {} deferred, {} violated",
                summary_line(&analysis.summary),
                counts.proven,
                counts.deferred,
                counts.violated
            )?;
        }
    }
    crate::output::write(&out);
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn summary_line(s: &sluice_compiler::Summary) -> String {
    format!(
        "{}, {} in {}",
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
        plural(s.nodes, "node")
    )
}
