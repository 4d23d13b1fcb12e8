//! # idbulk-app: the desktop shell
//!
//! A thin Tauri shell over the `idbulk` engine. Everything the app does is an engine call; this
//! crate only holds the open repository and adapts engine calls to IPC commands.
//!
//! - [`repository`]: the app's one repository, opened on first use and shared by commands.
//! - [`commands`]: the IPC commands, a few lines each. Errors cross IPC as `{code, message}`
//!   ([`idbulk::Error`]); the UI branches on `code` only.
//!
//! [`app`] wires them into a [`tauri::Builder`] of any runtime, so the commands are tested with
//! `tauri::test::mock_builder()` and no window.

pub mod commands;
pub mod repository;

use repository::Repository;

/// Registers the app's state and commands on `builder`, whatever the runtime.
pub fn app<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    repository: Repository,
) -> tauri::Builder<R> {
    builder
        .manage(repository)
        .invoke_handler(tauri::generate_handler![commands::repository_summary])
}

/// Starts the desktop app on the default repository (`$IDBULK_DB`, else the user's data
/// folder), created with the demo organisation on first start.
pub fn run() {
    let repository =
        Repository::new(idbulk::store::default_path(), chrono::Local::now().date_naive());
    if let Err(e) = app(tauri::Builder::default(), repository)
        .run(tauri::generate_context!("../tauri.conf.json"))
    {
        eprintln!("idbulk-app: could not start: {e}");
        std::process::exit(1);
    }
}
