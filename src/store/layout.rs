//! Images by position: a row's values in the order of a **layout**, a list of attribute names
//! kept once in `layout(id, names)` (file format 6).
//!
//! Formats 4 and 5 wrote each image as a JSON object by attribute name, so two thirds of every
//! image were the names again (240 of the 370 bytes of a typical user). An image is now a
//! JSON array, `[layout, "value", ...]`: the id of the layout its values follow, then the
//! values in that layout's order, trailing empty ones left out. An apply writes half the bytes
//! and loading the stored rows reads half (issue 6).
//!
//! Names are still what ties a value to its attribute, as the module docs of [`super`]
//! promise: a layout is the list of names the schema had when the image was written, and a
//! reader maps each layout's names to the attributes the schema has now. A name the schema no
//! longer declares is not read; an attribute the layout lacks is empty. Images written as
//! objects by earlier formats are read as they always were ([`super::decode_row`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::values::Builder;
use super::{
    Row, Text, Writer, clear_spans, decode_row, plain_json_string, push_json_string, sql_error,
    values_at,
};
use crate::error::{Error, ErrorCode, Result};
use crate::schema::EntityType;

/// A layout's id in the `layout` table, the first element of each image that follows it.
pub(crate) type LayoutId = i64;

/// Writes the rows of one entity type as images of one layout.
pub(crate) struct RowEncoder {
    /// `[id`: what every image starts with.
    opening: String,
}

impl RowEncoder {
    /// Appends the image of `row` to `out` (apply encodes a batch of rows into one buffer).
    /// Written by hand: `serde_json` allocated for every value.
    pub(crate) fn encode_into(&self, row: &Row, out: &mut String) {
        out.push_str(&self.opening);
        let used = row.values.iter().rposition(|v| !v.is_empty()).map_or(0, |last| last + 1);
        for value in row.values.iter().take(used) {
            out.push(',');
            push_json_string(out, value);
        }
        out.push(']');
    }

    /// The image of `row`.
    pub(crate) fn encode(&self, row: &Row) -> String {
        let mut out = String::new();
        self.encode_into(row, &mut out);
        out
    }
}

impl Writer<'_> {
    /// The encoder of `entity_type`'s rows, in the layout of its attributes as the schema has
    /// them now: found in `layout`, or added to it by this transaction.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if SQLite refuses the read or the write.
    pub(crate) fn row_encoder(&mut self, entity_type: &EntityType) -> Result<RowEncoder> {
        let names = layout_names(entity_type);
        let id = match self.layouts.get(&names) {
            Some(&id) => id,
            None => {
                let sql = |e| sql_error(self.path, e);
                let found: Option<LayoutId> = self
                    .tx
                    .query_row("SELECT id FROM layout WHERE names = ?1", [&names], |r| r.get(0))
                    .optional()
                    .map_err(sql)?;
                let id = match found {
                    Some(id) => id,
                    None => {
                        self.tx
                            .execute("INSERT INTO layout (names) VALUES (?1)", [&names])
                            .map_err(sql)?;
                        self.tx.last_insert_rowid()
                    }
                };
                self.layouts.insert(names, id);
                id
            }
        };
        Ok(RowEncoder { opening: format!("[{id}") })
    }
}

/// The `names` of the layout of `entity_type`'s attributes: a JSON array of their names.
fn layout_names(entity_type: &EntityType) -> String {
    let names: Vec<&str> = entity_type.attributes.iter().map(|a| a.name.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_default()
}

/// Reads the images of one entity type, whatever layout they follow.
pub(crate) struct ImageReader<'t> {
    entity_type: &'t EntityType,
    /// For each layout, the attribute each of its values goes to (`None`: an attribute the
    /// schema no longer declares). A few of them, looked up for every image: a search of a
    /// sorted map costs less than hashing the id (a twentieth of a load, issue 6).
    layouts: BTreeMap<LayoutId, Box<[Option<usize>]>>,
    /// Where each attribute's value is in the image being read, reused from image to image.
    spans: RefCell<Vec<(usize, usize)>>,
}

impl<'t> ImageReader<'t> {
    /// A reader of `entity_type`'s images, with every layout `conn` has (a few rows).
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the layouts cannot be read or one is damaged.
    pub(crate) fn new(
        conn: &Connection,
        path: &Path,
        entity_type: &'t EntityType,
    ) -> Result<ImageReader<'t>> {
        let sql = |e| sql_error(path, e);
        let mut stmt = conn.prepare_cached("SELECT id, names FROM layout").map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        let mut layouts = BTreeMap::new();
        while let Some(r) = rows.next().map_err(sql)? {
            let id: LayoutId = r.get(0).map_err(sql)?;
            let names: String = r.get(1).map_err(sql)?;
            let names: Vec<String> = serde_json::from_str(&names).map_err(|_| {
                Error::new(
                    ErrorCode::Repository,
                    format!("The repository is damaged: layout {id} is not a list of names."),
                )
            })?;
            let attributes = &entity_type.attributes;
            let to = names.iter().map(|n| attributes.iter().position(|a| a.name == *n)).collect();
            layouts.insert(id, to);
        }
        Ok(ImageReader { entity_type, layouts, spans: RefCell::default() })
    }

    /// The row `key` whose image is `fields`: an array in a layout, or an object by name as
    /// formats 4 and 5 wrote them ([`super::decode_row`]).
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Repository`] if the image is not one of those, or names no known layout.
    pub(crate) fn decode(&self, key: Text, fields: &str) -> Result<Row> {
        if !fields.starts_with('[') {
            return decode_row(self.entity_type, key, fields, &mut self.spans.borrow_mut());
        }
        let values = self.decode_plain(fields).or_else(|| self.decode_by_serde(fields));
        match values {
            Some(Ok(values)) => Ok(Row { key, values }),
            Some(Err(layout)) => Err(self.damaged(&key, &format!("names no layout {layout}"))),
            None => Err(self.damaged(&key, "is not a list of values in a layout")),
        }
    }

    fn damaged(&self, key: &str, what: &str) -> Error {
        Error::new(
            ErrorCode::Repository,
            format!("The stored {} {key} is damaged (its image {what}).", self.entity_type.name),
        )
    }

    /// The values of an image as [`RowEncoder`] writes nearly every one (`[id,"v",...]`
    /// without escapes), without serde; `None` for any other shape. `Err` holds a layout
    /// that does not exist.
    fn decode_plain(&self, fields: &str) -> Option<Result<super::Values, LayoutId>> {
        let bytes = fields.as_bytes();
        let digits = bytes[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        let id: LayoutId = fields.get(1..1 + digits)?.parse().ok()?;
        let Some(to) = self.layouts.get(&id) else { return Some(Err(id)) };
        // The values are found first, then copied into a string of their size at once: built
        // as it went, a row's string was allocated larger, then copied out (issue 6).
        let mut spans = self.spans.borrow_mut();
        clear_spans(&mut spans, self.entity_type.attributes.len());
        let mut at = 1 + digits;
        match bytes.get(at) {
            Some(b']') if at + 1 == bytes.len() => return Some(Ok(values_at(fields, &spans))),
            Some(b',') => {}
            _ => return None,
        }
        for target in to.iter() {
            at += 1;
            let start = at + 1;
            let value = plain_json_string(fields, &mut at)?;
            if let Some(i) = target {
                spans[*i] = (start, start + value.len());
            }
            match bytes.get(at) {
                Some(b',') => {}
                Some(b']') if at + 1 == bytes.len() => return Some(Ok(values_at(fields, &spans))),
                _ => return None,
            }
        }
        // More values than the layout has names.
        None
    }

    /// [`ImageReader::decode_plain`] of any JSON array, by serde_json: escaped strings, and
    /// values of other JSON kinds as their JSON text (as [`super::decode_row`] reads them).
    fn decode_by_serde(&self, fields: &str) -> Option<Result<super::Values, LayoutId>> {
        let items: Vec<serde_json::Value> = serde_json::from_str(fields).ok()?;
        let (first, rest) = items.split_first()?;
        let id = LayoutId::try_from(first.as_u64()?).ok()?;
        let Some(to) = self.layouts.get(&id) else { return Some(Err(id)) };
        if rest.len() > to.len() {
            return None;
        }
        let mut values = Builder::new(self.entity_type.attributes.len(), fields.len());
        for (value, target) in rest.iter().zip(to.iter()) {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            if let Some(i) = target {
                values.put(*i, &text);
            }
        }
        Some(Ok(values.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use crate::store::Store;

    fn site_type(schema: &Schema) -> EntityType {
        schema.entity_type("Site").unwrap().clone()
    }

    /// A connection whose `layout` table holds `layouts` (id, JSON names).
    fn with_layouts(layouts: &[(LayoutId, &str)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE layout (id INTEGER PRIMARY KEY, names TEXT NOT NULL)")
            .unwrap();
        for (id, names) in layouts {
            conn.execute("INSERT INTO layout VALUES (?1, ?2)", rusqlite::params![id, names])
                .unwrap();
        }
        conn
    }

    /// A new repository of the built-in schema (in a folder removed when dropped) and its
    /// Site type.
    fn site_store() -> (tempfile::TempDir, EntityType, Store) {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::directory();
        let store = Store::create(&dir.path().join("r.db"), &schema).unwrap();
        (dir, site_type(&schema), store)
    }

    fn row(values: [&str; 3]) -> Row {
        Row { key: "K".into(), values: values.into_iter().collect() }
    }

    #[test]
    fn rows_written_in_a_layout_read_back_whatever_their_values() {
        let (_dir, t, mut store) = site_store();
        let tricky = "a \"quote\", a \\ backslash, \n\r\t\u{8}\u{c}\u{1} and é€😀";
        let rows = [
            row(["Paris", "", "France"]),
            row(["", "", "x"]),
            row(["only the first", "", ""]),
            row(["", "", ""]),
            row([tricky, "", "[1,2]"]),
        ];
        let images = store
            .write(|w| {
                let encoder = w.row_encoder(&t)?;
                // The same layout again: found, not added twice.
                assert_eq!(w.row_encoder(&t)?.opening, encoder.opening);
                Ok(rows.iter().map(|r| encoder.encode(r)).collect::<Vec<_>>())
            })
            .unwrap();
        assert_eq!(images[0], r#"[1,"Paris","","France"]"#);
        assert_eq!(images[2], r#"[1,"only the first"]"#, "trailing empty values left out");
        assert_eq!(images[3], "[1]");
        let reader = ImageReader::new(store.conn(), store.path(), &t).unwrap();
        for (row, image) in rows.iter().zip(&images) {
            let parsed: serde_json::Value = serde_json::from_str(image).expect("valid JSON");
            assert!(parsed.is_array(), "{image}");
            assert_eq!(&reader.decode("K".into(), image).unwrap(), row, "{image}");
        }
        // A second transaction finds the layout the first one added.
        let opening = store.write(|w| Ok(w.row_encoder(&t)?.opening)).unwrap();
        assert_eq!(opening, "[1");
        let layouts: i64 =
            store.conn().query_row("SELECT count(*) FROM layout", [], |r| r.get(0)).unwrap();
        assert_eq!(layouts, 1);
    }

    #[test]
    fn a_table_of_images_of_both_formats_reads_whole() {
        // A repository upgraded from format 5 keeps its object images until each row is
        // written again: a scan meets both kinds, in any order.
        let (_dir, t, mut store) = site_store();
        store
            .write(|w| w.insert(&t, &Row { key: "B".into(), ..row(["Berlin", "", "DE"]) }))
            .unwrap();
        let [a0, a2] = [0, 2].map(|i| t.attributes[i].name.as_str());
        let object = format!(r#"{{"{a0}":"Athens","{a2}":"GR"}}"#);
        store
            .conn()
            .execute_batch(&format!(
                "INSERT INTO image (id, fields) VALUES (100, '{object}');
                 INSERT INTO record (entity_type, key, image) VALUES ('Site', 'A', 100);"
            ))
            .unwrap();
        let keyed = |key: &str, values| Row { key: key.into(), ..row(values) };
        assert_eq!(
            store.rows(&t).unwrap(),
            [keyed("A", ["Athens", "", "GR"]), keyed("B", ["Berlin", "", "DE"])]
        );
    }

    #[test]
    fn a_layout_is_read_by_name_as_the_schema_has_changed_since() {
        let schema = Schema::directory();
        let t = site_type(&schema);
        let [a0, a1, a2] = [0, 1, 2].map(|i| t.attributes[i].name.as_str());
        // Layout 7: the attributes in another order, one the schema has dropped, one missing.
        let names = format!(r#"["{a2}","Gone","{a0}"]"#);
        let conn = with_layouts(&[(7, &names)]);
        let reader = ImageReader::new(&conn, Path::new("r.db"), &t).unwrap();
        let read = |image: &str| reader.decode("K".into(), image);
        assert_eq!(read(r#"[7,"France","old","Paris"]"#).unwrap(), row(["Paris", "", "France"]));
        // The same by serde_json (an escape), with other JSON kinds as their text.
        assert_eq!(read(r#"[7,"Fr\u0061nce",12,null]"#).unwrap(), row(["", "", "France"]));
        assert_eq!(read(r#"[7,true,null,-1.5]"#).unwrap(), row(["-1.5", "", "true"]));
        // Objects by name, as earlier formats wrote them.
        let object = format!(r#"{{"{a1}":"Lyon","{a2}":"France"}}"#);
        assert_eq!(read(&object).unwrap(), row(["", "Lyon", "France"]));
    }

    #[test]
    fn an_image_that_fits_no_layout_is_damage_not_a_panic() {
        let schema = Schema::directory();
        let t = site_type(&schema);
        let conn = with_layouts(&[(1, r#"["DisplayName","City"]"#)]);
        let reader = ImageReader::new(&conn, Path::new("r.db"), &t).unwrap();
        for (image, says) in [
            (r#"[2,"Paris"]"#, "names no layout 2"),
            (r#"[2,"P\u0061ris"]"#, "names no layout 2"),
            (r#"[1,"Paris","Lyon","France"]"#, "is not a list of values"),
            (r#"[1,"Paris""#, "is not a list of values"),
            ("[", "is not a list of values"),
            ("[]", "is not a list of values"),
            (r#"["1","Paris"]"#, "is not a list of values"),
            ("[x]", "is not a list of values"),
            (r#"[1,"Paris"] x"#, "is not a list of values"),
            (r#"[1,,"Paris"]"#, "is not a list of values"),
        ] {
            let e = reader.decode("K".into(), image).unwrap_err();
            assert_eq!(e.code, ErrorCode::Repository, "{image}");
            assert!(e.message.contains(says), "{image}: {}", e.message);
            assert!(e.message.contains("Site K"), "{}", e.message);
        }
        let conn = with_layouts(&[(1, "not a list")]);
        let e = ImageReader::new(&conn, Path::new("r.db"), &t).err().unwrap();
        assert!(e.message.contains("layout 1"), "{}", e.message);
    }
}
