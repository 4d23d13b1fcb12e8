//! The Verify & reports screen: findings, headcounts before and after, exports.

use idbulk::report::{self, Report, ReportKind};
use idbulk::verify::{self, Verification};
use idbulk::{Error, template::TemplateFormat};
use tauri::{AppHandle, Runtime};

use super::{blocking, today, with_store};
use crate::dialogs::{self, FileType};

/// Verifies the repository: every finding, with what to do about it.
///
/// # Errors
///
/// The repository's read errors.
#[tauri::command]
pub async fn verification<R: Runtime>(app: AppHandle<R>) -> Result<Verification, Error> {
    with_store(app, |store| verify::run(store, today())).await
}

/// Headcount per worker type, organisation or site, before and after the last run.
///
/// # Errors
///
/// A usage error if the schema lacks the roles the report needs; read errors.
#[tauri::command]
pub async fn headcount<R: Runtime>(app: AppHandle<R>, kind: ReportKind) -> Result<Report, Error> {
    with_store(app, move |store| report::headcount(store, kind, today())).await
}

/// Exports a headcount report where the person chooses (native save dialog); returns the
/// file written, or `None` if they cancelled.
///
/// # Errors
///
/// The engine's error if the report cannot be built or written there.
#[tauri::command]
pub async fn export_report<R: Runtime>(
    app: AppHandle<R>,
    kind: ReportKind,
    format: TemplateFormat,
) -> Result<Option<String>, Error> {
    let extension = format.as_str();
    let chosen = blocking(app.clone(), move |app| {
        let label = if extension == "csv" { "CSV file" } else { "Excel workbook" };
        Ok(dialogs::save_file(
            app,
            "Export the report",
            &format!("headcount-{}.{extension}", kind.name()),
            &[FileType { label, extensions: &[extension] }],
        ))
    })
    .await?;
    let Some(mut path) = chosen else { return Ok(None) };
    if path.extension().is_none() {
        path.set_extension(extension);
    }
    with_store(app, move |store| {
        report::export(&report::headcount(store, kind, today())?, &path)?;
        Ok(Some(path.display().to_string()))
    })
    .await
}
