//! The `idbulk` command line: the engine's twin of the desktop app, for automation and scripted
//! checks. Every command takes `--db PATH` and `--json`; see `idbulk --help` and the README.

mod cli;

// mimalloc rather than glibc's malloc: see the dependency's note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::run(std::env::args_os()));
}
