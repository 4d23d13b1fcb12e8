//! The Home screen: the repository at a glance.

use idbulk::history::{self, Run};
use idbulk::store::Summary;
use idbulk::{Error, verify};
use serde::Serialize;
use tauri::{AppHandle, Runtime};

use super::{today, with_store};

/// Everything Home shows.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct HomeOverview {
    /// Counts, schema, revision and path.
    pub summary: Summary,
    /// The newest run, if any.
    pub last_run: Option<Run>,
    /// The verification's counts, per finding code.
    pub verification: verify::Summary,
}

/// Row counts per entity type, schema, revision and path of the repository.
///
/// # Errors
///
/// The engine's error if the repository cannot be opened or read.
#[tauri::command]
pub async fn repository_summary<R: Runtime>(app: AppHandle<R>) -> Result<Summary, Error> {
    with_store(app, |store| store.summary()).await
}

/// The repository summary, the last run and the verification at a glance.
///
/// # Errors
///
/// The engine's error if the repository cannot be opened or read.
#[tauri::command]
pub async fn home_overview<R: Runtime>(app: AppHandle<R>) -> Result<HomeOverview, Error> {
    with_store(app, |store| {
        Ok(HomeOverview {
            summary: store.summary()?,
            last_run: history::last(store)?,
            verification: verify::run(store, today())?.summary,
        })
    })
    .await
}
