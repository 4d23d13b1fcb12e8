//! Native open and save dialogs, asked for by Rust commands (never by the web view).
//!
//! The web view has no dialog or file-system permission: a command opens the dialog, gets the
//! path the person chose, and does the file work itself. End-to-end tests cannot click in a
//! GTK dialog, so when `IDBULK_TEST_DIALOGS` names a folder the dialogs answer from it instead:
//! a save goes to `<folder>/<suggested name>`, and an open returns the path written in
//! `<folder>/open.txt` (the test writes it first). Nothing else changes in the app.

use std::path::{Path, PathBuf};

use tauri::{AppHandle, Runtime};
use tauri_plugin_dialog::DialogExt;

/// The environment variable that puts the dialogs in test mode.
pub const TEST_DIALOGS: &str = "IDBULK_TEST_DIALOGS";

/// A file type offered in a dialog: a label and its extensions (without the dot).
pub struct FileType<'a> {
    /// What people call it, e.g. "Excel workbook".
    pub label: &'a str,
    /// Its extensions.
    pub extensions: &'a [&'a str],
}

/// Asks for a file to open; `None` when the person cancels.
pub fn pick_file<R: Runtime>(
    app: &AppHandle<R>,
    title: &str,
    types: &[FileType],
) -> Option<PathBuf> {
    if let Some(folder) = test_folder() {
        let chosen = std::fs::read_to_string(folder.join("open.txt")).ok()?;
        return Some(PathBuf::from(chosen.trim()));
    }
    let mut dialog = app.dialog().file().set_title(title);
    for t in types {
        dialog = dialog.add_filter(t.label, t.extensions);
    }
    dialog.blocking_pick_file()?.into_path().ok()
}

/// Asks where to save a file, suggesting `file_name`; `None` when the person cancels.
pub fn save_file<R: Runtime>(
    app: &AppHandle<R>,
    title: &str,
    file_name: &str,
    types: &[FileType],
) -> Option<PathBuf> {
    if let Some(folder) = test_folder() {
        return Some(folder.join(file_name));
    }
    let mut dialog = app.dialog().file().set_title(title).set_file_name(file_name);
    for t in types {
        dialog = dialog.add_filter(t.label, t.extensions);
    }
    dialog.blocking_save_file()?.into_path().ok()
}

/// Asks for a folder (CSV templates are one file per entity type); `None` when cancelled.
pub fn pick_folder<R: Runtime>(app: &AppHandle<R>, title: &str, name: &str) -> Option<PathBuf> {
    if let Some(folder) = test_folder() {
        return Some(folder.join(name));
    }
    app.dialog().file().set_title(title).blocking_pick_folder()?.into_path().ok()
}

fn test_folder() -> Option<PathBuf> {
    std::env::var_os(TEST_DIALOGS).map(PathBuf::from).filter(|p| Path::new(p).is_dir())
}
