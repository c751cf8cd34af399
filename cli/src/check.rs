//! `sluice check`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use sluice_compiler::diagnostic::{JsonReport, RenderOptions, render_human};

use crate::{ColorChoice, Format, exit};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The project folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Output format: text (diagnostics with source snippets) or json (the
    /// report of docs/language.md).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Color human output.
    #[arg(long, value_enum, default_value_t)]
    color: ColorChoice,
}

pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let sources = sluice_compiler::load_project(&args.dir)?;
    let analysis = sluice_compiler::check(&sources);
    print_report(&sources, &analysis, args.format, args.color)?;
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
