//! # idbulk-app: the desktop shell
//!
//! A thin Tauri shell over the `idbulk` engine. Everything the app does is an engine call; this
//! crate holds the app's state and adapts engine calls to IPC commands.
//!
//! - [`repository`]: the app's one repository, opened on first use and shared by commands.
//! - [`session`]: the plan under preview and the rows the Directory pages through.
//! - [`jobs`]: progress reports and cancel for long work.
//! - [`dialogs`]: native open and save dialogs, asked for from Rust.
//! - [`commands`]: the IPC commands, a few lines each, one module per screen. Errors cross IPC
//!   as `{code, message}` ([`idbulk::Error`]); the UI branches on `code` only.
//!
//! [`app`] wires them into a [`tauri::Builder`] of any runtime, so the commands are tested with
//! `tauri::test::mock_builder()` and no window.

pub mod commands;
pub mod dialogs;
pub mod jobs;
pub mod repository;
pub mod session;

use tauri::Manager;

use repository::Repository;

/// Registers the app's state, plugins and commands on `builder`, whatever the runtime.
pub fn app<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    repository: Repository,
) -> tauri::Builder<R> {
    use commands::{connection, directory, history, home, reports, settings, synchronize};
    builder
        .plugin(tauri_plugin_dialog::init())
        .manage(repository)
        .manage(session::Session::default())
        .manage(jobs::Jobs::default())
        .invoke_handler(tauri::generate_handler![
            home::repository_summary,
            home::home_overview,
            connection::connection_settings,
            connection::save_connection_settings,
            connection::pick_upload,
            connection::download_template,
            connection::check_connection,
            synchronize::preview,
            synchronize::plan_page,
            synchronize::plan_position,
            synchronize::synchronize,
            synchronize::cancel_job,
            synchronize::discard_plan,
            directory::directory_list,
            directory::directory_departments,
            directory::person_sheet,
            reports::verification,
            reports::headcount,
            reports::export_report,
            history::history_runs,
            history::history_run,
            history::undo_run,
            settings::threshold_settings,
            settings::set_threshold,
            settings::repository_info,
            settings::backup_settings,
            settings::set_backup_keep,
        ])
}

/// Starts the desktop app on the default repository (`$IDBULK_DB`, else the user's data
/// folder), created with the demo organisation on first start.
pub fn run() {
    let repository =
        Repository::new(idbulk::store::default_path(), chrono::Local::now().date_naive());
    // Registered first, as the plugin asks: a second start hands over to the first window.
    let builder =
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }));
    if let Err(e) = app(builder, repository).run(tauri::generate_context!("../tauri.conf.json")) {
        eprintln!("idbulk-app: could not start: {e}");
        std::process::exit(1);
    }
}
