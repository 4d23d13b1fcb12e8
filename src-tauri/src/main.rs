//! The `idbulk-app` desktop binary: everything lives in the library so it can be tested.

// Without a console window on Windows release builds; harmless elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    idbulk_app::run();
}
