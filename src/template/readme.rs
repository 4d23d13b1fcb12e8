//! The "Read me" sheet: the rules a person filling the template needs, and the schema, in
//! plain words. Generated from the schema, so an added entity type or attribute is explained
//! without a code change.

use crate::schema::{Attribute, AttributeKind, EntityType, Schema};

use super::{
    COMMAND_COLUMN, COMMAND_SYNONYMS, COMMANDS, LISTS_SHEET, METADATA_SHEET, NULL_VALUE,
    TemplateKind, TemplateMetadata,
};

/// One line of the Read me sheet; the workbook writer gives each its style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// The sheet's title.
    Title(String),
    /// A section heading.
    Heading(String),
    /// A sentence, in the first column (it overflows to the right).
    Text(String),
    /// The header row of a small table.
    TableHeader(Vec<String>),
    /// A row of a small table.
    TableRow(Vec<String>),
    /// An empty row between sections.
    Blank,
}

/// Column widths of the Read me sheet, fitted to its tables.
pub(crate) const COLUMN_WIDTHS: [f64; 5] = [26.0, 30.0, 30.0, 32.0, 14.0];

fn text(s: impl Into<String>) -> Line {
    Line::Text(s.into())
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// The lines of the Read me sheet for this schema and template.
pub(crate) fn lines(schema: &Schema, metadata: &TemplateMetadata) -> Vec<Line> {
    let mut out = vec![
        Line::Title(format!("{} template: how to fill it in", schema.name)),
        text(format!(
            "Made by idbulk on {} from repository revision {}, schema \"{}\" version {}.",
            metadata.exported_at.format("%Y-%m-%d %H:%M UTC"),
            metadata.repository_revision,
            schema.name,
            schema.version
        )),
        text(match metadata.kind {
            TemplateKind::Full => {
                "This is a full template: every stored row is here. It suits complete mode."
            }
            TemplateKind::Empty => {
                "This is an empty template: headers only. It suits incremental mode."
            }
        }),
        text(
            "If the repository changes after this date, idbulk warns that the template is stale: download a fresh one when in doubt.",
        ),
        Line::Blank,
        Line::Heading("Two ways to upload this file".into()),
        text("Complete mode: each sheet you upload is the whole truth for its entity type."),
        text(
            "• A row whose key is not stored is created; a stored row whose values differ is updated.",
        ),
        text("• A stored row that is missing from its sheet is DELETED."),
        text("• A blank cell means the value is empty."),
        text(
            "• A sheet you remove from the workbook leaves its entity type untouched: it never means \"delete everything\".",
        ),
        text(format!("• The {COMMAND_COLUMN} column is not used: leave it empty.")),
        Line::Blank,
        text(format!(
            "Incremental mode: only the rows in the file are touched, and each row says what to do in its {COMMAND_COLUMN} column."
        )),
        Line::TableHeader(row(&[
            COMMAND_COLUMN,
            "Key already stored",
            "Key not stored",
            "Blank cell",
            NULL_VALUE,
        ])),
    ];
    let synonym = |command: &str| {
        COMMAND_SYNONYMS
            .iter()
            .find(|(_, c)| *c == command)
            .map_or(command.to_string(), |(s, _)| format!("{command} (or {s})"))
    };
    let effects: [[&str; 4]; 4] = [
        ["error: it already exists", "creates the row", "empty", "empty"],
        ["updates the non-blank cells", "error: not found", "unchanged", "cleared"],
        ["deletes the row", "warning, nothing to do", "ignored", "ignored"],
        ["as Modify", "as Add", "unchanged if stored, else empty", "cleared"],
    ];
    for (command, effect) in COMMANDS.iter().zip(effects) {
        let mut cells = vec![synonym(command)];
        cells.extend(effect.iter().map(|e| e.to_string()));
        out.push(Line::TableRow(cells));
    }
    out.extend([
        text("Commands are not case-sensitive. A blank or unknown command is an error for its row."),
        text(format!(
            "Type {NULL_VALUE} to clear a stored value. It is an error on the key or on a required column. (In complete mode, {NULL_VALUE} means empty, with a warning.)"
        )),
        Line::Blank,
        Line::Heading("Rules for every sheet".into()),
        text("• The key (the column after Command) names the row. Keys are text: 00123 stays 00123. Every key is unique."),
        text("• A key never changes. To rename a row, delete it and add a new one."),
        text("• Type dates as YYYY-MM-DD, for example 2025-09-30. Type TRUE or FALSE in yes/no columns."),
        text("• Headers in orange are required: every row needs a value there. Hover over a header to read what it holds."),
        text("• Reference columns offer a drop-down of the stored keys. You may also type a key that this same file creates."),
        text("• Do not rename the sheets or the column headers, and keep the header row as the first row."),
        text("• A value starting with =, +, - or @ is kept as text, never run as a formula. To type one, start it with an apostrophe (')."),
        text(format!(
            "• Leave the hidden sheets {LISTS_SHEET} and {METADATA_SHEET} as they are: they hold the drop-down lists and the template's origin."
        )),
        Line::Blank,
        Line::Heading("The sheets and their columns".into()),
    ]);
    for entity_type in &schema.entity_types {
        out.extend(entity_type_lines(entity_type));
    }
    out
}

fn entity_type_lines(entity_type: &EntityType) -> Vec<Line> {
    let mut out = vec![
        Line::Text(format!("Sheet \"{}\"", entity_type.name)),
        Line::TableHeader(row(&["Column", "Kind", "Required", "What it holds"])),
        Line::TableRow(row(&[
            COMMAND_COLUMN,
            "command",
            "incremental mode",
            "Add, Modify, Delete or Merge",
        ])),
        Line::TableRow(row(&[
            &entity_type.key,
            "text (the key)",
            "yes",
            &format!("identifies the {}; unique, never changes", entity_type.name),
        ])),
    ];
    for a in &entity_type.attributes {
        out.push(Line::TableRow(vec![
            a.name.clone(),
            a.kind.label(),
            if a.required { "yes" } else { "no" }.to_string(),
            holds(a),
        ]));
    }
    out.push(Line::Blank);
    out
}

/// A short phrase on what an attribute holds, for the Read me and the header notes.
pub(crate) fn holds(attribute: &Attribute) -> String {
    match &attribute.kind {
        AttributeKind::Text => "any text".into(),
        AttributeKind::Integer => "a whole number, such as 42".into(),
        AttributeKind::Decimal => "a number, such as 12.5".into(),
        AttributeKind::Bool => "TRUE or FALSE".into(),
        AttributeKind::Date => "a date, typed YYYY-MM-DD".into(),
        AttributeKind::Email => "an e-mail address, such as name@example.org".into(),
        AttributeKind::Reference { target } => format!("the key of a {target} row"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn all_text(lines: &[Line]) -> String {
        let mut s = String::new();
        for line in lines {
            match line {
                Line::Title(t) | Line::Heading(t) | Line::Text(t) => s.push_str(t),
                Line::TableHeader(cells) | Line::TableRow(cells) => s.push_str(&cells.join(" | ")),
                Line::Blank => {}
            }
            s.push('\n');
        }
        s
    }

    #[test]
    fn the_read_me_explains_modes_commands_and_the_schema() {
        let text_schema = "name='Fleet'\nversion=3\n[[entity_type]]\nname='Car'\nkey='Plate'\nattributes=[{name='Owner', kind='reference', target='Car', required=true}, {name='Bought', kind='date'}]";
        let schema = Schema::from_toml(text_schema).unwrap();
        let at = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let metadata = TemplateMetadata::new(&schema, TemplateKind::Full, 9, at);
        let text = all_text(&lines(&schema, &metadata));
        for needle in [
            "Fleet template",
            "2025-01-02 03:04 UTC",
            "revision 9",
            "full template",
            "Complete mode",
            "DELETED",
            "never means \"delete everything\"",
            "Incremental mode",
            "Add (or Insert) | error: it already exists | creates the row | empty | empty",
            "Modify (or Update) | updates the non-blank cells | error: not found | unchanged | cleared",
            "Delete | deletes the row | warning, nothing to do | ignored | ignored",
            "Merge | as Modify | as Add | unchanged if stored, else empty | cleared",
            "NULL_NULL",
            "00123 stays 00123",
            "YYYY-MM-DD",
            "Do not rename the sheets",
            "Sheet \"Car\"",
            "Plate | text (the key) | yes",
            "Owner | Car key | yes | the key of a Car row",
            "Bought | date (YYYY-MM-DD) | no",
        ] {
            assert!(text.contains(needle), "the Read me should say {needle:?}:\n{text}");
        }
        assert!(!text.contains("User"), "nothing about the default schema leaks in:\n{text}");
    }
}
