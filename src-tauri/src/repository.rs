//! The app's repository: one [`Store`] shared by every command.
//!
//! The store is opened on first use rather than before the window exists, so the window shows
//! its loading state while the demo repository is created on first start, and an open failure
//! (a corrupt file, a folder we may not write) is an error the UI shows instead of a crash.
//! A failed open is not remembered: the next command tries again, which is what a "Try again"
//! button needs once the person has fixed the cause.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::NaiveDate;
use idbulk::{Result, Store};

/// The repository file and, once opened, its [`Store`].
///
/// A `rusqlite` connection is `Send` but not `Sync`, hence the [`Mutex`]: commands take turns.
pub struct Repository {
    path: PathBuf,
    today: NaiveDate,
    store: Mutex<Option<Store>>,
}

impl Repository {
    /// A repository at `path`, not opened yet. `today` dates the demo organisation created
    /// when no file exists there.
    pub fn new(path: PathBuf, today: NaiveDate) -> Repository {
        Repository { path, today, store: Mutex::new(None) }
    }

    /// Where the repository file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store, opening it first if needed (creating the demo repository when no
    /// file exists).
    ///
    /// # Errors
    ///
    /// The engine's error if the repository cannot be created or opened, else `f`'s.
    pub fn with<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        // A panic while the lock was held cannot have left the file half-written (every write
        // is one SQLite transaction), so a poisoned lock is safe to take over.
        let mut guard = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let store = match guard.take() {
            Some(store) => guard.insert(store),
            None => guard.insert(open_or_create(&self.path, self.today)?),
        };
        f(store)
    }
}

/// Opens the repository at `path`, or creates the demo one there if no file exists.
fn open_or_create(path: &Path, today: NaiveDate) -> Result<Store> {
    if path.exists() { Store::open(path) } else { idbulk::demo::create(path, today) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 15).unwrap()
    }

    #[test]
    fn the_first_use_creates_the_demo_repository_and_later_uses_reopen_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.db");
        let repository = Repository::new(path.clone(), today());
        assert!(!path.exists(), "nothing is created before the first use");

        let people = repository.with(|store| store.count("User")).unwrap();
        assert!(people > 0, "the demo organisation has people");

        let reopened = Repository::new(path, today());
        assert_eq!(reopened.with(|store| store.count("User")).unwrap(), people, "same file");
    }

    #[test]
    fn a_file_that_is_not_a_repository_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.db");
        std::fs::write(&path, "not a database").unwrap();
        let repository = Repository::new(path, today());

        let error = repository.with(|store| store.revision()).unwrap_err();
        assert_eq!(error.code, idbulk::ErrorCode::Repository, "{error:?}");
        // Still not opened: the next call tries again rather than remembering the failure.
        assert!(repository.with(|store| store.revision()).is_err());
    }
}
