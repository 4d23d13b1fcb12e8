//! The Synchronize screen: preview a file's plan, page through it, apply it.

use idbulk::Error;
use idbulk::apply::{self, Force};
use idbulk::backup;
use idbulk::connection::ConnectionSettings;
use idbulk::history::Run;
use idbulk::plan::view::{Filter, Overview, Page, PlanView};
use idbulk::plan::{self, Mode};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use super::blocking;
use super::connection::blank_path;
use crate::jobs::{Jobs, Progress, Stage};
use crate::repository::Repository;
use crate::session::Session;

/// Reads the file saved for `mode` and plans it against the repository, reporting progress
/// to `on_progress`; keeps the plan for paging and applying, and returns its headline.
///
/// # Errors
///
/// A usage error if the mode's path is not set; the import's error if the file cannot be read
/// (unreadable, unsupported, hostile); `cancelled` if the person cancelled. Problems in the
/// file are findings of the plan, not errors.
#[tauri::command]
pub async fn preview<R: Runtime>(
    app: AppHandle<R>,
    mode: Mode,
    on_progress: Channel<Progress>,
) -> Result<Overview, Error> {
    blocking(app, move |app| {
        let session = app.state::<Session>();
        session.clear_plan();
        let mut job = app.state::<Jobs>().start(on_progress);
        let mut view = app.state::<Repository>().with(|store| {
            let settings = ConnectionSettings::load(store)?;
            let path = settings.path(mode).ok_or_else(|| blank_path(mode))?;
            let plan = plan::from_file(store, path, mode, &settings.csv, &mut |done, total| {
                job.report(Stage::Reading, done, total)
            })?;
            job.report(Stage::Planning, 1, 1);
            Ok(PlanView::new(store.schema().clone(), plan))
        })?;
        let overview = view.overview();
        session.set_plan(view);
        Ok(overview)
    })
    .await
}

/// Rows `offset..offset + limit` of the previewed changes that `filter` matches. `async`, like
/// every command here, so it runs off the window's thread.
///
/// # Errors
///
/// `not_found` if there is no preview.
#[tauri::command]
pub async fn plan_page(
    session: State<'_, Session>,
    filter: Filter,
    offset: usize,
    limit: usize,
) -> Result<Page, Error> {
    session.with_plan(|view| Ok(view.page(&filter, offset, limit)))
}

/// Where the change from spreadsheet row `row` of `sheet` sits under `filter`, if it makes
/// one: a finding's "Show in the list".
///
/// # Errors
///
/// `not_found` if there is no preview.
#[tauri::command]
pub async fn plan_position(
    session: State<'_, Session>,
    filter: Filter,
    sheet: String,
    row: u32,
) -> Result<Option<usize>, Error> {
    session.with_plan(|view| Ok(view.position_of(&filter, &sheet, row)))
}

/// **Synchronize**: applies the previewed plan, all or nothing. `force_reason` forces a plan
/// a threshold blocks (the engine refuses a blank one). Backs the repository up first when
/// backups are on.
///
/// # Errors
///
/// The engine's: the plan has errors, is blocked and not forced, the repository moved since
/// the preview (`busy`), or the person cancelled. Nothing is written in any of those cases.
#[tauri::command]
pub async fn synchronize<R: Runtime>(
    app: AppHandle<R>,
    force_reason: Option<String>,
    on_progress: Channel<Progress>,
) -> Result<Run, Error> {
    blocking(app, move |app| {
        let session = app.state::<Session>();
        let mut job = app.state::<Jobs>().start(on_progress);
        let force = match force_reason {
            Some(reason) => Force::Yes { reason },
            None => Force::No,
        };
        let view = session.take_plan()?;
        let applied = app.state::<Repository>().with(|store| {
            // The safety net before writing (when backups are on); a plan that cannot be
            // applied is refused by apply::run without one.
            if !view.plan().has_errors() {
                backup::before_sync(store, chrono::Utc::now())?;
            }
            apply::run(store, view.plan(), &force, chrono::Utc::now(), &mut |done, total| {
                job.report(Stage::Applying, done, total)
            })
        });
        if applied.is_err() {
            // Nothing was written: the preview stays, to force it, or to look again.
            session.set_plan(view);
        }
        applied
    })
    .await
}

/// **Cancel**: asks the running preview, sync or undo to stop; it then writes nothing.
#[tauri::command]
pub fn cancel_job(jobs: State<'_, Jobs>) {
    jobs.cancel();
}

/// Forgets the preview (the person changed the mode or left the screen).
#[tauri::command]
pub fn discard_plan(session: State<'_, Session>) {
    session.clear_plan();
}
