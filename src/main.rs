//! The `idbulk` command line: the engine's twin of the desktop app, for automation and scripted
//! checks. Every command takes `--db PATH` and `--json`; see `idbulk --help` and the README.

mod cli;

fn main() {
    std::process::exit(cli::run(std::env::args_os()));
}
