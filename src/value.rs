//! Canonical text forms of values, and the formula-injection rule for data that leaves idbulk.
//!
//! Every stored value is text in one canonical form per [`AttributeKind`]:
//!
//! | kind | canonical form |
//! |---|---|
//! | text, email, reference | as typed (never trimmed of inner content, never reinterpreted) |
//! | integer | optional `-` and digits, no leading zeros: `42` |
//! | decimal | shortest form: `12.5`, `3` (no `.0`) |
//! | bool | `true` or `false` |
//! | date | `YYYY-MM-DD` |
//!
//! The empty string is the empty value.
//!
//! [`AttributeKind`]: crate::schema::AttributeKind

/// Characters that make a spreadsheet treat a cell as a formula (or that smuggle one in).
pub const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a value would be read as a formula by a spreadsheet if written as-is.
pub fn looks_like_formula(value: &str) -> bool {
    value.starts_with(FORMULA_TRIGGERS)
}

/// Whether a CSV value needs a leading `'` to stay inert: it starts with a formula trigger,
/// possibly after apostrophes (so that a value that really starts with `'=` survives the
/// round trip: it is written `''=` and read back as `'=`).
fn needs_csv_quote(value: &str) -> bool {
    looks_like_formula(value.trim_start_matches('\''))
}

/// The text to write in a CSV cell: `'` before any value that could run as a formula.
pub fn csv_export(value: &str) -> std::borrow::Cow<'_, str> {
    if needs_csv_quote(value) { format!("'{value}").into() } else { value.into() }
}

/// The inverse of [`csv_export`]: removes exactly the one `'` export added.
pub fn csv_import(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_csv_quote(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_values_are_quoted_in_csv() {
        assert_eq!(csv_export("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_export("+33 1 23"), "'+33 1 23");
        assert_eq!(csv_export("-5"), "'-5");
        assert_eq!(csv_export("@cmd"), "'@cmd");
        assert_eq!(csv_export("\tx"), "'\tx");
        assert_eq!(csv_export("Paris"), "Paris");
        assert_eq!(csv_export("it's"), "it's");
        assert_eq!(csv_export("'=x"), "''=x");
    }

    #[test]
    fn csv_quoting_round_trips_exactly() {
        for v in ["=1+1", "'=1", "''@", "plain", "'plain", "", "-", "a=b", "'", "\r\n"] {
            assert_eq!(csv_import(&csv_export(v)), v, "value {v:?}");
        }
    }
}
