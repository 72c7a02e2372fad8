//! The `changegate` command: serve, check, simulate, schema.

use changegate::rules;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let path = PathBuf::from(args.get(2).cloned().unwrap_or("rules.yaml".into()));
    match rules::load(&path) {
        Ok(r) => {
            println!("{}: ok: {}", path.display(), r.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
