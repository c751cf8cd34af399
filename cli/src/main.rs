use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod lake_cmds;

/// sluice: a code-first lakehouse toolchain.
#[derive(Parser, Debug)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Lake(lake_cmds::LakeCommand),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Lake(cmd) => lake_cmds::run(cmd),
    }
}
