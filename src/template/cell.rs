//! How one stored value becomes one spreadsheet cell.
//!
//! The decision is a pure function of the attribute kind and the canonical text, so it is
//! tested without writing a workbook. The rule: a value becomes a typed cell (number, date,
//! boolean) only when that cell reads back as exactly the same canonical text; anything else is
//! written as a string, so the template never loses or alters data.

use chrono::{Datelike, NaiveDate};

use crate::schema::AttributeKind;
use crate::value::looks_like_formula;

/// Excel shows and edits 15 significant digits; a number with more would change when a person
/// touches the cell, so it is written as text instead.
const EXCEL_DIGITS: usize = 15;

/// The longest string an Excel cell holds, in UTF-16 units.
pub(crate) const MAX_CELL_CHARS: usize = 32_767;

/// What to write in a cell for one stored value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Nothing: the value is empty.
    Empty,
    /// A string cell. `inert` when a spreadsheet would read it as a formula: it then gets the
    /// quote-prefix style, which keeps it text even when a person edits the cell.
    Text {
        /// The exact stored text.
        text: &'a str,
        /// Whether it needs the quote prefix.
        inert: bool,
    },
    /// A number (integer or decimal) that reads back as the same canonical text.
    Number(f64),
    /// A real Excel date (1900-03-01 or later: before that Excel's serials are ambiguous).
    Date {
        /// Year, 1900 to 9999.
        year: u16,
        /// Month, 1 to 12.
        month: u8,
        /// Day of the month.
        day: u8,
    },
    /// A boolean cell.
    Bool(bool),
}

impl<'a> Cell<'a> {
    /// A string cell for `text`, inert if it looks like a formula.
    pub(crate) fn text(text: &'a str) -> Cell<'a> {
        if text.is_empty() {
            Cell::Empty
        } else {
            Cell::Text { text, inert: looks_like_formula(text) }
        }
    }

    /// The cell for a stored value of an attribute of this kind.
    pub(crate) fn for_value(kind: &AttributeKind, value: &'a str) -> Cell<'a> {
        if value.is_empty() {
            return Cell::Empty;
        }
        let typed = match kind {
            AttributeKind::Integer => integer(value),
            AttributeKind::Decimal => decimal(value),
            AttributeKind::Date => date(value),
            AttributeKind::Bool => match value {
                "true" => Some(Cell::Bool(true)),
                "false" => Some(Cell::Bool(false)),
                _ => None,
            },
            AttributeKind::Text | AttributeKind::Email | AttributeKind::Reference { .. } => None,
        };
        typed.unwrap_or_else(|| Cell::text(value))
    }

    /// Roughly how many characters wide the cell shows, for column widths.
    pub(crate) fn display_width(&self) -> usize {
        match self {
            Cell::Empty => 0,
            Cell::Text { text, .. } => text.lines().map(|l| l.chars().count()).max().unwrap_or(0),
            Cell::Number(n) => n.to_string().len(),
            Cell::Date { .. } => 10,
            Cell::Bool(_) => 5,
        }
    }
}

fn integer(value: &str) -> Option<Cell<'static>> {
    let n: i64 = value.parse().ok()?;
    let canonical = n.to_string() == value;
    (canonical && n.unsigned_abs() < 10u64.pow(EXCEL_DIGITS as u32))
        .then_some(Cell::Number(n as f64))
}

fn decimal(value: &str) -> Option<Cell<'static>> {
    let n: f64 = value.parse().ok()?;
    // Rust prints the shortest text that reads back as the same f64, which is what the
    // importer renders; equality means the cell round-trips to the same canonical text.
    // `-0` would read back as `0`.
    let canonical =
        n.is_finite() && n.to_string() == value && !(n == 0.0 && value.starts_with('-'));
    let digits = value.bytes().filter(u8::is_ascii_digit).skip_while(|d| *d == b'0').count();
    (canonical && digits <= EXCEL_DIGITS).then_some(Cell::Number(n))
}

fn date(value: &str) -> Option<Cell<'static>> {
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    let earliest = NaiveDate::from_ymd_opt(1900, 3, 1)?;
    let canonical = d.format("%Y-%m-%d").to_string() == value;
    (canonical && d >= earliest && d.year() <= 9999).then(|| Cell::Date {
        year: d.year() as u16,
        month: d.month() as u8,
        day: d.day() as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(kind: AttributeKind, value: &str) -> Cell<'_> {
        Cell::for_value(&kind, value)
    }

    fn text(text: &str) -> Cell<'_> {
        Cell::Text { text, inert: false }
    }

    fn inert(text: &str) -> Cell<'_> {
        Cell::Text { text, inert: true }
    }

    #[test]
    fn each_kind_gets_its_cell_type() {
        use AttributeKind::*;
        assert_eq!(cell(Text, "Paris"), text("Paris"));
        assert_eq!(cell(Text, "00123"), text("00123"), "text is never a number");
        assert_eq!(cell(Email, "a@b.fr"), text("a@b.fr"));
        assert_eq!(cell(Reference { target: "User".into() }, "007"), text("007"));
        assert_eq!(cell(Integer, "42"), Cell::Number(42.0));
        assert_eq!(cell(Integer, "-7"), Cell::Number(-7.0));
        assert_eq!(cell(Decimal, "12.5"), Cell::Number(12.5));
        assert_eq!(cell(Decimal, "3"), Cell::Number(3.0));
        assert_eq!(cell(Decimal, "-0.001"), Cell::Number(-0.001));
        assert_eq!(cell(Bool, "true"), Cell::Bool(true));
        assert_eq!(cell(Bool, "false"), Cell::Bool(false));
        assert_eq!(cell(Date, "2024-02-29"), Cell::Date { year: 2024, month: 2, day: 29 });
        assert_eq!(cell(Date, "1900-03-01"), Cell::Date { year: 1900, month: 3, day: 1 });
        assert_eq!(cell(Date, ""), Cell::Empty);
        assert_eq!(cell(Integer, ""), Cell::Empty);
    }

    #[test]
    fn values_that_would_not_read_back_exactly_stay_text() {
        use AttributeKind::*;
        assert_eq!(cell(Integer, "0042"), text("0042"), "not canonical: keep the zeros");
        assert_eq!(cell(Integer, "1234567890123456"), text("1234567890123456"), "16 digits");
        assert_eq!(cell(Integer, "123456789012345"), Cell::Number(123_456_789_012_345.0));
        assert_eq!(cell(Integer, "12abc"), text("12abc"));
        assert_eq!(cell(Decimal, "1.50"), text("1.50"));
        assert_eq!(cell(Decimal, "0.1234567890123456"), text("0.1234567890123456"));
        assert_eq!(cell(Decimal, "NaN"), text("NaN"));
        assert_eq!(cell(Decimal, "inf"), text("inf"));
        assert_eq!(cell(Decimal, "-0"), inert("-0"));
        assert_eq!(cell(Date, "2024-2-29"), text("2024-2-29"));
        assert_eq!(cell(Date, "2023-02-29"), text("2023-02-29"), "no such day");
        assert_eq!(cell(Date, "1899-12-31"), text("1899-12-31"), "before Excel's safe range");
        assert_eq!(cell(Date, "1900-02-28"), text("1900-02-28"), "Excel's fake 1900 leap year");
        assert_eq!(cell(Date, "31/12/2024"), text("31/12/2024"));
        assert_eq!(cell(Bool, "TRUE"), text("TRUE"), "not canonical");
        assert_eq!(cell(Bool, "yes"), text("yes"));
    }

    #[test]
    fn formula_like_strings_are_inert_whatever_the_kind() {
        use AttributeKind::*;
        for v in ["=SUM(A1)", "+33 1 23 45", "-x", "@cmd", "\tx", "\rx"] {
            assert_eq!(cell(Text, v), inert(v), "{v:?}");
        }
        assert_eq!(cell(Integer, "-5"), Cell::Number(-5.0), "a negative number is a number");
        assert_eq!(cell(Integer, "-5x"), inert("-5x"));
        assert_eq!(cell(Date, "=TODAY()"), inert("=TODAY()"));
        assert_eq!(Cell::text("-"), inert("-"));
        assert_eq!(Cell::text("a=b"), text("a=b"));
    }

    #[test]
    fn widths_follow_what_the_cell_shows() {
        assert_eq!(Cell::text("abc\nlonger line").display_width(), 11);
        assert_eq!(Cell::text("Zoë").display_width(), 3, "characters, not bytes");
        assert_eq!(Cell::Date { year: 2024, month: 1, day: 1 }.display_width(), 10);
        assert_eq!(Cell::Number(12.5).display_width(), 4);
    }
}
