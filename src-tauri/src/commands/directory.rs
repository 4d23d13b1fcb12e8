//! The Directory screen: people and departments, a person's sheet.

use idbulk::directory::{self, Department, ListPage, ListQuery};
use idbulk::verify::{self, PersonSheet};
use idbulk::{Error, Result};
use tauri::{AppHandle, Manager, Runtime};

use super::{blocking, today};
use crate::repository::Repository;
use crate::session::Session;

/// A page of one entity type's rows, searched and sorted.
///
/// # Errors
///
/// A usage error for an unknown entity type or column; the repository's read errors.
#[tauri::command]
pub async fn directory_list<R: Runtime>(
    app: AppHandle<R>,
    query: ListQuery,
) -> Result<ListPage, Error> {
    blocking(app, move |app| {
        let (schema, rows) = current_rows(app)?;
        directory::list(&schema, &rows, &query)
    })
    .await
}

/// Every department with its manager and headcount, missing managers flagged.
///
/// # Errors
///
/// The repository's read errors.
#[tauri::command]
pub async fn directory_departments<R: Runtime>(
    app: AppHandle<R>,
) -> Result<Vec<Department>, Error> {
    blocking(app, |app| {
        let (schema, rows) = current_rows(app)?;
        Ok(directory::departments(&schema, &rows, today()))
    })
    .await
}

/// A person's sheet: attributes, manager chain, direct reports.
///
/// # Errors
///
/// `not_found` when no person has that key.
#[tauri::command]
pub async fn person_sheet<R: Runtime>(
    app: AppHandle<R>,
    key: String,
) -> Result<PersonSheet, Error> {
    blocking(app, move |app| {
        let (schema, rows) = current_rows(app)?;
        verify::sheet_of(&schema, &rows, &key)
    })
    .await
}

/// The schema and the repository's rows at its current revision (read once per revision).
fn current_rows<R: Runtime>(
    app: &AppHandle<R>,
) -> Result<(idbulk::Schema, std::sync::Arc<idbulk::plan::Snapshot>)> {
    app.state::<Repository>()
        .with(|store| Ok((store.schema().clone(), app.state::<Session>().rows(store)?)))
}
