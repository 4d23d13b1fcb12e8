//! The backup commands: `idbulk backup [--keep N]`, `idbulk backups` and `idbulk restore FILE`,
//! and the note `idbulk sync` adds when it backed up before applying.

use std::path::{Path, PathBuf};

use serde_json::json;

use idbulk::{Store, backup};

use super::Outcome;

/// `idbulk backup [--keep N]`: saves the retention when given, backs up now, then prunes.
pub(super) fn create(db: &Path, keep: Option<u32>) -> idbulk::Result<Outcome> {
    let mut store = Store::open(db)?;
    if let Some(n) = keep {
        backup::set_keep(&mut store, n)?;
    }
    let keep = backup::keep(&store)?;
    let made = backup::create(&store, chrono::Utc::now())?;
    let removed = backup::prune(db, keep)?;
    let mut human = vec![format!("Backed up {} to {}.", db.display(), made.path.display())];
    if !removed.is_empty() {
        human.push(format!(
            "Removed {} older backup{} (keeping {keep}).",
            removed.len(),
            if removed.len() == 1 { "" } else { "s" }
        ));
    }
    human.push(retention_sentence(keep));
    Ok(Outcome::done(json!({ "backup": made, "removed": removed, "keep": keep }), human.join("\n")))
}

/// `idbulk backups`: the backups, newest first, and the retention.
pub(super) fn list(db: &Path) -> idbulk::Result<Outcome> {
    let store = Store::open(db)?;
    let keep = backup::keep(&store)?;
    let files = backup::list(db)?;
    let folder = backup::folder(db);
    let mut human = vec![format!("Backups in {}:", folder.display())];
    if files.is_empty() {
        human.push("  none yet.".into());
    }
    for b in &files {
        let when = b.taken_at.map_or_else(
            || "(not made by idbulk)".to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
        human.push(format!("  {when}  {:>10} bytes  {}", b.bytes, b.name));
    }
    human.push(retention_sentence(keep));
    Ok(Outcome::done(
        json!({ "backups": { "folder": folder, "keep": keep, "files": files } }),
        human.join("\n"),
    ))
}

/// `idbulk restore FILE`: FILE is a path, or the name of a file in the backup folder.
pub(super) fn restore(db: &Path, file: &Path) -> idbulk::Result<Outcome> {
    let from = resolve(db, file);
    let restored = backup::restore(db, &from, chrono::Utc::now())?;
    let mut human = vec![format!(
        "Restored {} from {} (now at revision {}).",
        db.display(),
        restored.from.display(),
        restored.revision
    )];
    match &restored.previous {
        Some(p) => {
            human.push(format!("The state before the restore was backed up to {}.", p.display()))
        }
        None => human.push(
            "The repository was too damaged to be backed up first; it was replaced.".to_string(),
        ),
    }
    Ok(Outcome::done(json!({ "restore": restored }), human.join("\n")))
}

/// What `idbulk sync` adds to its human output when it backed up first.
pub(super) fn sync_note(human: String, made: Option<&PathBuf>) -> String {
    match made {
        Some(p) => format!("{human}\nThe repository was backed up first to {}.", p.display()),
        None => human,
    }
}

fn retention_sentence(keep: u32) -> String {
    if keep == 0 {
        "Automatic backups before each sync are off (`idbulk backup --keep N` turns them on)."
            .into()
    } else {
        format!("A backup is taken before each sync; the newest {keep} are kept.")
    }
}

/// A bare name that is not a file here is looked up in the repository's backup folder.
fn resolve(db: &Path, file: &Path) -> PathBuf {
    let bare = file.parent().is_none_or(|p| p.as_os_str().is_empty());
    if !file.exists() && bare {
        let candidate = backup::folder(db).join(file);
        if candidate.exists() {
            return candidate;
        }
    }
    file.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_found_in_the_backup_folder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let folder = backup::folder(&db);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("r-x.db"), "x").unwrap();
        assert_eq!(resolve(&db, Path::new("r-x.db")), folder.join("r-x.db"));
        assert_eq!(resolve(&db, Path::new("other.db")), PathBuf::from("other.db"));
        assert_eq!(resolve(&db, Path::new("sub/r-x.db")), PathBuf::from("sub/r-x.db"));
    }

    #[test]
    fn backup_takes_an_optional_retention_and_restore_a_file() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            super::super::Cli::try_parse_from(std::iter::once("idbulk").chain(args.iter().copied()))
        };
        assert!(matches!(
            parse(&["backup", "--keep", "3"]).unwrap().command,
            super::super::Command::Backup { keep: Some(3) }
        ));
        assert!(parse(&["backup", "--keep", "-1"]).is_err());
        assert!(parse(&["restore"]).is_err(), "restore needs a file");
        assert!(parse(&["backups", "--json"]).unwrap().json);
    }

    #[test]
    fn the_retention_sentence_says_when_backups_are_off() {
        assert!(retention_sentence(0).contains("off"));
        assert!(retention_sentence(3).contains("newest 3"));
    }
}
