//! `edge-auth`: see the library for what it owns. Parses the command line, runs, maps to an exit code.

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = auth_cli::args::Cli::parse();
    let stdout = std::io::stdout();
    let stdin = std::io::stdin();
    match auth_cli::run(cli, &mut stdin.lock(), &mut stdout.lock()) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(auth_cli::EXIT_ERROR)
        }
    }
}
