//! The `changegate` command: serve, check, simulate, schema, jobs, retry.

mod cli;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("changegate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
