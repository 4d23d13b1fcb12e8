//! The Settings screen: safety thresholds, where the repository is.

use idbulk::backup::{self, Backup};
use idbulk::thresholds::{self, Counter, Limit, Thresholds};
use idbulk::{Error, Result};
use serde::Serialize;
use tauri::{AppHandle, Runtime};

use super::with_store;

/// The thresholds and what they may be set on.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ThresholdSettings {
    /// The limits in force.
    pub thresholds: Thresholds,
    /// The scopes a limit may be set for: the connection, then each entity type.
    pub scopes: Vec<String>,
    /// The counters.
    pub counters: Vec<Counter>,
}

/// Where the repository is and what it holds.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct RepositoryInfo {
    /// The repository file.
    pub path: String,
    /// Its schema's name and version.
    pub schema: String,
    /// The app's version.
    pub version: String,
}

/// The thresholds in force.
///
/// # Errors
///
/// The repository's read errors.
#[tauri::command]
pub async fn threshold_settings<R: Runtime>(app: AppHandle<R>) -> Result<ThresholdSettings> {
    with_store(app, |store| {
        Ok(ThresholdSettings {
            thresholds: Thresholds::load(store)?,
            scopes: std::iter::once(thresholds::CONNECTION.to_string())
                .chain(store.schema().entity_types.iter().map(|t| t.name.clone()))
                .collect(),
            counters: Counter::ALL.to_vec(),
        })
    })
    .await
}

/// Sets one limit; 0 switches a part off.
///
/// # Errors
///
/// A usage error for an unknown scope or a percentage outside 0-100; write errors.
#[tauri::command]
pub async fn set_threshold<R: Runtime>(
    app: AppHandle<R>,
    scope: String,
    counter: Counter,
    limit: Limit,
) -> Result<(), Error> {
    with_store(app, move |store| Thresholds::save(store, &scope, counter, limit)).await
}

/// Where the repository is, its schema and the app's version.
///
/// # Errors
///
/// The repository's read errors.
#[tauri::command]
pub async fn repository_info<R: Runtime>(app: AppHandle<R>) -> Result<RepositoryInfo> {
    with_store(app, |store| {
        Ok(RepositoryInfo {
            path: store.path().display().to_string(),
            schema: store.schema().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    })
    .await
}

/// The backups taken before syncs: how many are kept, where, and which exist.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct BackupSettings {
    /// How many backups are kept (0: no backup before syncs).
    pub keep: u32,
    /// The folder they are in.
    pub folder: String,
    /// The backups, newest first.
    pub backups: Vec<Backup>,
}

/// The backup retention and the backups there are.
///
/// # Errors
///
/// The repository's read errors; `io` if the backup folder cannot be listed.
#[tauri::command]
pub async fn backup_settings<R: Runtime>(app: AppHandle<R>) -> Result<BackupSettings> {
    with_store(app, |store| {
        Ok(BackupSettings {
            keep: backup::keep(store)?,
            folder: backup::folder(store.path()).display().to_string(),
            backups: backup::list(store.path())?,
        })
    })
    .await
}

/// Sets how many backups to keep (0 switches the backup before each sync off).
///
/// # Errors
///
/// The repository's write errors.
#[tauri::command]
pub async fn set_backup_keep<R: Runtime>(app: AppHandle<R>, keep: u32) -> Result<()> {
    with_store(app, move |store| backup::set_keep(store, keep)).await
}
