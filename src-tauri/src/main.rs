//! The `idbulk-app` desktop binary: everything lives in the library so it can be tested.

// Without a console window on Windows release builds; harmless elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// mimalloc, as the `idbulk` command line: the engine's import and plan allocate millions of
// small strings, where glibc's malloc spent a fifth of the time (issue 6).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    idbulk_app::run();
}
