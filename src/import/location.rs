//! Where something is in a workbook, the way Excel numbers it.

use std::fmt;

use serde::Serialize;

/// A sheet, a row as Excel shows it (1-based) and, for a cell, its column.
///
/// `Display` gives the Excel reference (`User!C12`, `'Read me'!A1`; `User, row 12` for a whole
/// row); [`Location::describe`] gives the sentence form for people
/// (`sheet User, row 12, column C (Email)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// The sheet name (for CSV: the file stem).
    pub sheet: String,
    /// 1-based row number as Excel shows it.
    pub row: u32,
    /// 0-based column index; `None` when the whole row is meant.
    pub column: Option<u32>,
    /// The column's header, when known, to name it for people.
    pub header: Option<String>,
}

impl Location {
    /// A cell: sheet, 1-based row, 0-based column.
    pub fn cell(sheet: impl Into<String>, row: u32, column: u32) -> Location {
        Location { sheet: sheet.into(), row, column: Some(column), header: None }
    }

    /// A whole row.
    pub fn row(sheet: impl Into<String>, row: u32) -> Location {
        Location { sheet: sheet.into(), row, column: None, header: None }
    }

    /// The same location, naming its column's header.
    pub fn with_header(mut self, header: impl Into<String>) -> Location {
        self.header = Some(header.into());
        self
    }

    /// The sentence form: `sheet User, row 12, column C (Email)`.
    pub fn describe(&self) -> String {
        let mut s = format!("sheet {}, row {}", self.sheet, self.row);
        if let Some(column) = self.column {
            s.push_str(", column ");
            s.push_str(&column_letters(column));
            if let Some(header) = self.header.as_deref().filter(|h| !h.is_empty()) {
                s.push_str(&format!(" ({header})"));
            }
        }
        s
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => {
                write!(f, "{}!{}{}", quoted_sheet(&self.sheet), column_letters(column), self.row)
            }
            None => write!(f, "{}, row {}", self.sheet, self.row),
        }
    }
}

/// A sheet name as Excel writes it in a reference: quoted (with `'` doubled) unless it is a
/// plain word.
fn quoted_sheet(name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if plain { name.to_string() } else { format!("'{}'", name.replace('\'', "''")) }
}

/// The Excel letters of a 0-based column index: 0 is `A`, 25 is `Z`, 26 is `AA`, 16383 is
/// `XFD`.
pub fn column_letters(column: u32) -> String {
    let mut n = u64::from(column) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_with_excel_letters() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
        assert_eq!(column_letters(16383), "XFD");
        assert_eq!(column_letters(u32::MAX), "MWLQKWV", "no overflow at the top");
    }

    #[test]
    fn locations_print_as_excel_references_and_sentences() {
        let loc = Location::cell("User", 12, 2).with_header("Email");
        assert_eq!(loc.to_string(), "User!C12");
        assert_eq!(loc.describe(), "sheet User, row 12, column C (Email)");
        assert_eq!(Location::cell("Read me", 1, 0).to_string(), "'Read me'!A1");
        assert_eq!(Location::cell("O'Neil", 1, 0).to_string(), "'O''Neil'!A1");
        assert_eq!(Location::cell("2024", 1, 0).to_string(), "'2024'!A1");
        assert_eq!(Location::row("User", 7).to_string(), "User, row 7");
        assert_eq!(Location::row("User", 7).describe(), "sheet User, row 7");
    }
}
