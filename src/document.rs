//! Documents idbulk writes for people (templates, reports): always written atomically.
//!
//! A document is written to a temporary file in its destination folder, flushed to disk, then
//! renamed over the destination, so a crash or a full disk leaves the old file or the complete
//! new one, never half of it; and the destination is checked before any work is done.

use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;

use crate::error::{Error, ErrorCode, Result};

/// Writes `path` atomically: `write` fills a temporary file in the same folder, which is then
/// flushed to disk and renamed over `path`. On any error the temporary file is removed and
/// `path` is untouched.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    let (dir, name) = destination(path)?;
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Temporary files are private (0600) by default; the template is an ordinary document,
    // so it gets the permissions the user's umask gives any new file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut temp =
        builder.tempfile_in(dir).map_err(|e| Error::io(dir, "create a temporary file in", &e))?;
    write(temp.as_file_mut())?;
    temp.as_file().sync_all().map_err(|e| Error::io(temp.path(), "write", &e))?;
    temp.persist(path).map_err(|e| match e.error.kind() {
        ErrorKind::PermissionDenied => Error::new(
            ErrorCode::Io,
            format!(
                "Could not write {}: permission was denied. If the file is open in Excel, close it and try again.",
                path.display()
            ),
        ),
        _ => Error::io(path, "write", &e.error),
    })?;
    sync_folder(dir);
    Ok(())
}

/// The folder and file name of a file to write, checked before any work is done: the folder
/// must exist and `path` must not be a folder.
pub(crate) fn destination(path: &Path) -> Result<(&Path, &std::ffi::OsStr)> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(Error::usage(format!("{} does not name a file.", path.display())));
    };
    if path.is_dir() {
        return Err(Error::usage(format!(
            "{} is a folder; name the file to write.",
            path.display()
        )));
    }
    if !dir.is_dir() {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!(
                "Could not write {}: the folder {} does not exist.",
                path.display(),
                dir.display()
            ),
        ));
    }
    Ok((dir, name))
}

/// Makes the rename durable on Unix (the folder entry is flushed too). Best effort: the file
/// itself is already complete on disk, and Windows has no equivalent call.
fn sync_folder(dir: &Path) {
    #[cfg(unix)]
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
