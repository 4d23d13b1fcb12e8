//! The CSV template: one file per entity type.
//!
//! Each file is UTF-8 with a byte-order mark (so Excel reads accents right), comma-separated,
//! with CRLF line ends, and named after its entity type so the importer knows which type it
//! holds. Values are canonical text; one that a spreadsheet would run as a formula gets a
//! leading `'` ([`csv_export`]), which the importer removes again. A CSV file has no room for
//! the metadata of the workbook template, so a stale CSV template is not recognised.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::schema::EntityType;
use crate::store::Store;
use crate::value::csv_export;

use super::{TemplateKind, sheet_headers, snapshot, write_atomically};

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes one CSV file per entity type, `<dir>/<EntityType>.csv` (UTF-8 with BOM, comma, CRLF),
/// each atomically; returns their paths in schema order. The folder is created if needed.
///
/// Each file starts with the header `Command,<key>,<attributes...>`; a
/// [`TemplateKind::Full`] template adds every stored row (empty `Command`), in key order.
/// `now` is accepted for symmetry with [`write_xlsx`](super::write_xlsx): a CSV file has no
/// place for the export time.
///
/// # Errors
///
/// - [`ErrorCode::Usage`](crate::ErrorCode::Usage) when `dir` is a file;
/// - [`ErrorCode::Io`](crate::ErrorCode::Io) when the folder or a file cannot be written;
/// - [`ErrorCode::Repository`](crate::ErrorCode::Repository) or
///   [`ErrorCode::Busy`](crate::ErrorCode::Busy) when the repository cannot be read.
///
/// Files written before an error stay complete; the one being written is left as it was.
///
/// # Examples
///
/// ```
/// use idbulk::template::{self, TemplateKind};
/// use idbulk::{Schema, Store};
///
/// let dir = tempfile::tempdir().expect("a temporary folder");
/// let store = Store::create(&dir.path().join("repository.db"), &Schema::directory())?;
/// let files = template::write_csv(&store, TemplateKind::Full, &dir.path().join("csv"), chrono::Utc::now())?;
/// assert!(files[0].ends_with("csv/User.csv"));
/// # Ok::<(), idbulk::Error>(())
/// ```
pub fn write_csv(
    store: &Store,
    kind: TemplateKind,
    dir: &Path,
    now: DateTime<Utc>,
) -> Result<Vec<PathBuf>> {
    let _ = now;
    if dir.is_file() {
        return Err(Error::usage(format!(
            "{} is a file; CSV templates go in a folder (one file per entity type).",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create the folder", &e))?;
    let _snapshot = snapshot(store)?;
    let mut written = Vec::new();
    for entity_type in &store.schema().entity_types {
        let path = dir.join(format!("{}.csv", entity_type.name));
        write_atomically(&path, |file| {
            write_table(&mut BufWriter::new(file), store, entity_type, kind, &path)
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the BOM, the header and (full template) the rows of one entity type; `path` names
/// the file in error messages.
fn write_table(
    out: &mut impl Write,
    store: &Store,
    entity_type: &EntityType,
    kind: TemplateKind,
    path: &Path,
) -> Result<()> {
    let io_error = |e: std::io::Error| Error::io(path, "write", &e);
    let csv_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(e) => Error::io(path, "write", &e),
        other => Error::internal(format!("Could not write {}: {other:?}.", path.display())),
    };
    out.write_all(BOM).map_err(io_error)?;
    let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    csv.write_record(sheet_headers(entity_type)).map_err(csv_error)?;
    if kind == TemplateKind::Full {
        store.for_each_row(entity_type, |row| {
            csv.write_field("").map_err(csv_error)?;
            for value in std::iter::once(row.key.as_str()).chain(&row.values) {
                csv.write_field(csv_export(value).as_bytes()).map_err(csv_error)?;
            }
            // An empty record ends the one built field by field.
            csv.write_record(None::<&[u8]>).map_err(csv_error)
        })?;
    }
    csv.flush().map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use crate::store::Row;

    fn site(key: &str, name: &str, city: &str) -> Row {
        Row { key: key.into(), values: [name, city, ""].into_iter().collect() }
    }

    #[test]
    fn csv_rows_are_escaped_quoted_and_crlf_terminated() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::directory();
        let sites = schema.entity_type("Site").unwrap().clone();
        let mut store = Store::create(&dir.path().join("r.db"), &schema).unwrap();
        store
            .write(|w| {
                w.insert(&sites, &site("00123", "=HYPERLINK(\"x\")", "Paris, \"centre\""))?;
                w.insert(&sites, &site("-5", "'=already", "two\nlines"))?;
                w.insert(&sites, &site("Z", "Zoë Ångström", "@home"))
            })
            .unwrap();
        let mut bytes = Vec::new();
        write_table(&mut bytes, &store, &sites, TemplateKind::Full, Path::new("Site.csv")).unwrap();
        assert!(bytes.starts_with(BOM), "UTF-8 with BOM");
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert_eq!(
            text,
            "Command,Identifier,DisplayName,City,Country\r\n\
             ,'-5,''=already,\"two\nlines\",\r\n\
             ,00123,\"'=HYPERLINK(\"\"x\"\")\",\"Paris, \"\"centre\"\"\",\r\n\
             ,Z,Zoë Ångström,'@home,\r\n"
        );

        let mut empty = Vec::new();
        write_table(&mut empty, &store, &sites, TemplateKind::Empty, Path::new("Site.csv"))
            .unwrap();
        assert_eq!(&empty[3..], b"Command,Identifier,DisplayName,City,Country\r\n");
    }
}
