//! The History screen: runs, a run's changes, undo.

use idbulk::history::{self, RecordedChange, Run};
use idbulk::{Error, apply};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};

use super::{blocking, with_store};
use crate::jobs::{Jobs, Progress, Stage};
use crate::repository::Repository;

/// The most changes one page of a run carries.
const MAX_PAGE: usize = 500;

/// A run and a page of its changes.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct RunDetails {
    /// The run.
    pub run: Run,
    /// Changes in all.
    pub total: usize,
    /// The requested page of them, with the rows before and after.
    pub changes: Vec<RecordedChange>,
    /// The attribute names of each entity type the changes touch, for the row images.
    pub attributes: Vec<(String, Vec<String>)>,
}

/// Every run, newest first.
///
/// # Errors
///
/// The repository's read errors.
#[tauri::command]
pub async fn history_runs<R: Runtime>(app: AppHandle<R>) -> Result<Vec<Run>, Error> {
    with_store(app, |store| history::list(store)).await
}

/// One run with a page of its changes.
///
/// # Errors
///
/// `not_found` for an unknown run; read errors.
#[tauri::command]
pub async fn history_run<R: Runtime>(
    app: AppHandle<R>,
    id: i64,
    offset: usize,
    limit: usize,
) -> Result<RunDetails, Error> {
    with_store(app, move |store| {
        let run = history::get(store, id)?;
        let all = history::changes(store, id)?;
        let attributes = store
            .schema()
            .entity_types
            .iter()
            .filter(|t| all.iter().any(|c| c.entity_type == t.name))
            .map(|t| (t.name.clone(), t.attributes.iter().map(|a| a.name.clone()).collect()))
            .collect();
        let total = all.len();
        let changes = all.into_iter().skip(offset).take(limit.min(MAX_PAGE)).collect();
        Ok(RunDetails { run, total, changes, attributes })
    })
    .await
}

/// **Undo**: reverts a run, recorded as a new run.
///
/// # Errors
///
/// The engine's: already undone, or rows changed by a later run (named), or cancelled.
#[tauri::command]
pub async fn undo_run<R: Runtime>(
    app: AppHandle<R>,
    id: i64,
    on_progress: Channel<Progress>,
) -> Result<Run, Error> {
    blocking(app, move |app| {
        let mut job = app.state::<Jobs>().start(on_progress);
        app.state::<Repository>().with(|store| {
            apply::undo(store, id, chrono::Utc::now(), &mut |done, total| {
                job.report(Stage::Undoing, done, total)
            })
        })
    })
    .await
}
