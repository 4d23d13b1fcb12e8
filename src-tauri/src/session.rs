//! What the app keeps between commands besides the repository: the plan under preview, and
//! the rows the Directory screen pages through.
//!
//! Both are plain values from the engine. The plan is kept so that the grid can ask for pages
//! of it and **Synchronize** can apply exactly what was previewed (the engine re-checks the
//! revision, so a plan gone stale is refused, not applied). The directory rows are read once
//! per repository revision and shared by every page request.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use idbulk::plan::Snapshot;
use idbulk::plan::view::PlanView;
use idbulk::{Error, ErrorCode, Result, Store};

/// The session state: see the module documentation.
#[derive(Default)]
pub struct Session {
    plan: Mutex<Option<PlanView>>,
    rows: Mutex<Option<Arc<Snapshot>>>,
}

impl Session {
    /// Keeps `plan` as the one under preview, replacing any earlier one.
    pub fn set_plan(&self, plan: PlanView) {
        *lock(&self.plan) = Some(plan);
    }

    /// Forgets the plan under preview.
    pub fn clear_plan(&self) {
        *lock(&self.plan) = None;
    }

    /// Takes the plan under preview out (to apply it without holding the lock, so the grid's
    /// page requests never wait on a long apply); [`Session::set_plan`] puts it back.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NotFound`] when there is none.
    pub fn take_plan(&self) -> Result<PlanView> {
        lock(&self.plan).take().ok_or_else(no_preview)
    }

    /// Runs `f` on the plan under preview.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NotFound`] when there is none (the window was reloaded, or it was applied).
    pub fn with_plan<T>(&self, f: impl FnOnce(&mut PlanView) -> Result<T>) -> Result<T> {
        match lock(&self.plan).as_mut() {
            Some(plan) => f(plan),
            None => Err(no_preview()),
        }
    }

    /// The repository's rows at its current revision, read again only when it moved.
    ///
    /// # Errors
    ///
    /// The repository's read errors.
    pub fn rows(&self, store: &Store) -> Result<Arc<Snapshot>> {
        let revision = store.revision()?;
        let mut cached = lock(&self.rows);
        if let Some(rows) = cached.as_ref().filter(|r| r.revision == revision) {
            return Ok(Arc::clone(rows));
        }
        let rows = Arc::new(Snapshot::load(store)?);
        *cached = Some(Arc::clone(&rows));
        Ok(rows)
    }
}

/// The error for a request about a preview that is gone.
fn no_preview() -> Error {
    Error::new(ErrorCode::NotFound, "There is no preview to show any more. Preview the file again.")
}

/// Takes a lock even if a panic poisoned it: the values are replaced whole, never half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
