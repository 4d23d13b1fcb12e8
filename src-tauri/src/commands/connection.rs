//! The Connection screen: the two upload paths, CSV options, templates, Check Connection.

use std::path::PathBuf;

use idbulk::connection::{self, CheckReport, ConnectionSettings};
use idbulk::plan::Mode;
use idbulk::template::{self, TemplateFormat, TemplateKind};
use idbulk::{Error, ErrorCode};
use tauri::{AppHandle, Runtime};

use super::{blocking, with_store};
use crate::dialogs::{self, FileType};

/// The files an upload may be.
const UPLOADS: [FileType; 2] = [
    FileType { label: "Spreadsheets", extensions: &["xlsx", "xlsm", "xls", "ods", "csv"] },
    FileType { label: "All files", extensions: &["*"] },
];

/// The saved connection settings (empty ones before the first save).
///
/// # Errors
///
/// The engine's error if the repository cannot be read.
#[tauri::command]
pub async fn connection_settings<R: Runtime>(
    app: AppHandle<R>,
) -> Result<ConnectionSettings, Error> {
    with_store(app, |store| ConnectionSettings::load(store)).await
}

/// Checks and saves the connection settings (**Save & Close**).
///
/// # Errors
///
/// A usage error naming the field for a relative path or the repository's own file.
#[tauri::command]
pub async fn save_connection_settings<R: Runtime>(
    app: AppHandle<R>,
    settings: ConnectionSettings,
) -> Result<(), Error> {
    with_store(app, move |store| settings.save(store)).await
}

/// **Upload**: the native file picker; the chosen path, or `None` if the person cancelled.
///
/// # Errors
///
/// A usage error if what was chosen is not a file.
#[tauri::command]
pub async fn pick_upload<R: Runtime>(app: AppHandle<R>) -> Result<Option<String>, Error> {
    blocking(app, |app| {
        let Some(path) = dialogs::pick_file(app, "Choose the file to upload", &UPLOADS) else {
            return Ok(None);
        };
        if !path.is_file() {
            return Err(Error::usage(format!("{} is not a file.", path.display())));
        }
        Ok(Some(path.display().to_string()))
    })
    .await
}

/// **Download full template** / **Download empty template**: asks where with the native save
/// dialog (a folder for CSV), writes it, and returns the files written, or `None` if the
/// person cancelled.
///
/// # Errors
///
/// The engine's error if the template cannot be written there.
#[tauri::command]
pub async fn download_template<R: Runtime>(
    app: AppHandle<R>,
    kind: TemplateKind,
    format: TemplateFormat,
) -> Result<Option<Vec<String>>, Error> {
    let chosen = blocking(app.clone(), move |app| {
        let name = format!("identities-{}", kind.as_str());
        Ok(match format {
            TemplateFormat::Xlsx => dialogs::save_file(
                app,
                "Save the template",
                &format!("{name}.xlsx"),
                &[FileType { label: "Excel workbook", extensions: &["xlsx"] }],
            ),
            TemplateFormat::Csv => {
                dialogs::pick_folder(app, "Choose a folder for the CSV files", &name)
            }
        })
    })
    .await?;
    let Some(path) = chosen else { return Ok(None) };
    let written = with_store(app, move |store| {
        template::write(store, kind, format, &with_extension(path, format), chrono::Utc::now())
    })
    .await?;
    Ok(Some(written.iter().map(|p| p.display().to_string()).collect()))
}

/// A workbook path ends in `.xlsx` even if the person typed the name without it.
fn with_extension(path: PathBuf, format: TemplateFormat) -> PathBuf {
    match format {
        TemplateFormat::Xlsx if path.extension().is_none() => path.with_extension("xlsx"),
        _ => path,
    }
}

/// **Check Connection** for one mode, with the settings as they are on screen (saved or not).
///
/// # Errors
///
/// A usage error if that mode's path is blank or not allowed; otherwise each problem is a
/// failed step of the report, not an error.
#[tauri::command]
pub async fn check_connection<R: Runtime>(
    app: AppHandle<R>,
    mode: Mode,
    settings: ConnectionSettings,
) -> Result<CheckReport, Error> {
    with_store(app, move |store| {
        settings.validate(store.path())?;
        let path = settings.path(mode).ok_or_else(|| blank_path(mode))?;
        Ok(connection::check(store.schema(), path, mode, &settings.csv).0)
    })
    .await
}

/// The error for a mode whose path was never set.
pub(crate) fn blank_path(mode: Mode) -> Error {
    let field = match mode {
        Mode::Complete => "Path (Complete mode)",
        Mode::Incremental => "Path (Incremental mode)",
    };
    Error::new(
        ErrorCode::Usage,
        format!("{field} is empty. Type the file's path or use Upload on the Connection screen."),
    )
}
