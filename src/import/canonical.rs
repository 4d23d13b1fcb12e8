//! From a raw cell to the canonical text of an attribute kind ([`crate::value`]), or a
//! problem that says what is wrong and how to fix it (SPEC sections 5 and 9).
//!
//! | kind | accepted | refused |
//! |---|---|---|
//! | text | any text as typed; a number as Excel shows it (`42`, not `42.0`); TRUE/FALSE | a date (Excel turned text into a date), a number of 15 digits or more or text like `1.23E+15` (an ID shown in scientific notation) |
//! | key, reference | as text, with surrounding whitespace trimmed | as text |
//! | email | one `@`, a dot in the domain, no spaces (trimmed) | anything else |
//! | integer | whole numbers; numeric text such as `42`, `+42`, `0042`, `42.0` | fractions, thousands separators, units, dates, booleans |
//! | decimal | numbers; numeric text with a dot (`12.50` is `12.5`) | a decimal comma, exponents, dates, booleans |
//! | bool | TRUE/FALSE cells, 1/0; text `true`/`false`/`yes`/`no`/`1`/`0` (any case) | anything else |
//! | date | date cells at midnight; text `YYYY-MM-DD` only | other orders (`31/01/2024` is ambiguous), a time of day, numbers |
//!
//! Every kind refuses error cells (`#N/A`), formulas without a cached value and durations.
//! An empty cell is the empty value `""` for every kind; whether that is allowed (required
//! attribute, key) is the planner's decision, as is [`NULL_NULL`].

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use super::Cell;
use crate::schema::AttributeKind;

/// The cell value that clears a stored value in incremental mode (SPEC section 4). The
/// planner handles it before calling [`canonical`]; it is exported so importers and tests
/// share one spelling.
pub const NULL_NULL: &str = "NULL_NULL";

/// Numbers at or above this magnitude are not kept as text: Excel keeps 15 significant digits
/// and shows such numbers in scientific notation, so an ID stored this way is already damaged.
const SCIENTIFIC_ID_FROM: f64 = 1e15;

/// Floats are exact integers up to 2^53.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Why a cell cannot be stored, and what the person can do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellProblem {
    /// What is wrong, e.g. `"31/01/2024" is not a date in the form YYYY-MM-DD`.
    pub message: String,
    /// How to fix it, as an instruction.
    pub fix: String,
}

impl CellProblem {
    fn new(message: impl Into<String>, fix: impl Into<String>) -> CellProblem {
        CellProblem { message: message.into(), fix: fix.into() }
    }
}

impl fmt::Display for CellProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. {}", self.message, self.fix)
    }
}

impl std::error::Error for CellProblem {}

/// The canonical text of `cell` for an attribute of `kind` (`""` is the empty value).
///
/// # Errors
///
/// A [`CellProblem`] when the cell does not hold a value of that kind; see the module docs
/// for the rules.
///
/// # Examples
///
/// ```
/// use idbulk::import::{Cell, canonical};
/// use idbulk::schema::AttributeKind;
///
/// assert_eq!(canonical(&AttributeKind::Text, &Cell::Float(42.0)).unwrap(), "42");
/// assert_eq!(canonical(&AttributeKind::Bool, &Cell::Text("Yes".into())).unwrap(), "true");
/// assert!(canonical(&AttributeKind::Date, &Cell::Text("31/01/2024".into())).is_err());
/// ```
pub fn canonical(kind: &AttributeKind, cell: &Cell) -> Result<String, CellProblem> {
    if let Some(problem) = never_a_value(cell) {
        return Err(problem);
    }
    match kind {
        AttributeKind::Text => textual(cell, false),
        AttributeKind::Reference { .. } => textual(cell, true),
        AttributeKind::Email => email(cell),
        AttributeKind::Integer => integer(cell),
        AttributeKind::Decimal => decimal(cell),
        AttributeKind::Bool => boolean(cell),
        AttributeKind::Date => date(cell),
    }
}

/// The canonical text of a key cell: text rules, surrounding whitespace trimmed (keys are
/// compared exactly, and a stray space is never meant).
///
/// # Errors
///
/// As for text in [`canonical`].
pub fn canonical_key(cell: &Cell) -> Result<String, CellProblem> {
    if let Some(problem) = never_a_value(cell) {
        return Err(problem);
    }
    textual(cell, true)
}

/// Cells that are no value of any kind.
fn never_a_value(cell: &Cell) -> Option<CellProblem> {
    match cell {
        Cell::Error(code) => Some(CellProblem::new(
            format!("the cell shows the Excel error {code}"),
            "Correct the formula or type the value itself.",
        )),
        Cell::FormulaWithoutValue(formula) => Some(CellProblem::new(
            format!(
                "the cell holds {} but no calculated value (the file was saved by a program \
                 that does not calculate formulas)",
                // A cell of a shared formula carries no text of its own.
                if formula.is_empty() {
                    "a formula".to_string()
                } else {
                    format!("the formula ={formula}")
                }
            ),
            "Open the file in Excel or LibreOffice and save it again so the result is stored, \
             or type the value instead of the formula.",
        )),
        Cell::Duration(text) => Some(CellProblem::new(
            format!("Excel turned this value into a duration ({text})"),
            "Format the column as Text and type the value again.",
        )),
        _ => None,
    }
}

fn scientific_id(shown: &str) -> CellProblem {
    CellProblem::new(
        format!(
            "{shown} looks like an ID shown in scientific notation: Excel stored it as a number \
             and its last digits are lost"
        ),
        "Format the column as Text in Excel, type the full value again (or copy it from the \
         source), and upload again.",
    )
}

/// Text such as `1.23457E+15`: what Excel displays (and saves to CSV) for a long number.
fn looks_scientific(text: &str) -> bool {
    let t = text.trim();
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let Some((mantissa, exponent)) = t.split_once(['E', 'e']) else { return false };
    let Some(exponent) = exponent.strip_prefix('+') else { return false };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    whole.len() == 1
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && exponent.len() == 2
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// A number as Excel shows it in a General cell: no `.0`, no `-0`.
fn plain_number(x: f64) -> String {
    format!("{}", if x == 0.0 { 0.0 } else { x })
}

/// Text, key and reference cells.
fn textual(cell: &Cell, trim: bool) -> Result<String, CellProblem> {
    match cell {
        Cell::Empty => Ok(String::new()),
        Cell::Text(text) => {
            if looks_scientific(text) {
                return Err(scientific_id(&format!("\"{}\"", text.trim())));
            }
            Ok(if trim { text.trim() } else { text }.to_string())
        }
        Cell::Int(i) => Ok(i.to_string()),
        Cell::Float(x) if x.abs() >= SCIENTIFIC_ID_FROM => {
            Err(scientific_id(&format!("the number {x:E}").replace("E", "E+")))
        }
        Cell::Float(x) => Ok(plain_number(*x)),
        Cell::Bool(true) => Ok("TRUE".into()),
        Cell::Bool(false) => Ok("FALSE".into()),
        Cell::DateTime(date) => Err(CellProblem::new(
            format!("Excel turned this value into a date ({date})"),
            "Format the column as Text, type the value again exactly as it should be, and \
             upload again.",
        )),
        Cell::Duration(_) | Cell::Error(_) | Cell::FormulaWithoutValue(_) => {
            Err(never_a_value(cell).unwrap_or_else(|| CellProblem::new("not a value", "")))
        }
    }
}

fn email(cell: &Cell) -> Result<String, CellProblem> {
    let value = textual(cell, true)?;
    if value.is_empty() {
        return Ok(value);
    }
    check_email(&value).map(|()| value)
}

/// An e-mail address as idbulk accepts one (text trimmed, not empty): then the text is its
/// own canonical form (the planner borrows it, issue 6).
pub fn check_email(value: &str) -> Result<(), CellProblem> {
    // One pass over the bytes for what they tell alike (every row of a large file is asked).
    let (mut ascii_space, mut ats, mut at) = (false, 0, 0);
    for (i, &b) in value.as_bytes().iter().enumerate() {
        match b {
            b' ' | b'\t'..=b'\r' => ascii_space = true,
            b'@' => (ats, at) = (ats + 1, i),
            _ => {}
        }
    }
    let has_space = ascii_space || (!value.is_ascii() && value.chars().any(char::is_whitespace));
    let reason = if has_space {
        Some("it contains a space")
    } else if ats != 1 {
        Some("it needs exactly one @")
    } else {
        let (local, domain) = (&value[..at], &value[at + 1..]);
        if local.is_empty() {
            Some("nothing comes before the @")
        } else if !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.as_bytes().windows(2).any(|pair| pair == b"..")
        {
            Some("the part after the @ is not a domain such as example.com")
        } else {
            None
        }
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(CellProblem::new(
            format!("\"{value}\" is not an e-mail address: {reason}"),
            "Type an address such as first.last@example.com.",
        )),
    }
}

/// A decimal number in text, canonical: `+0012.50` is `12.5`, `-0` is `0`. `None` unless it
/// is digits with an optional sign and one optional dot.
fn decimal_text(text: &str) -> Option<String> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let mut out = String::new();
    if negative && !(whole.is_empty() && fraction.is_empty()) {
        out.push('-');
    }
    out.push_str(if whole.is_empty() { "0" } else { whole });
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

fn not_a_number(value: &str, what: &str, fix: &str) -> CellProblem {
    CellProblem::new(format!("{value} is not {what}"), fix)
}

fn integer(cell: &Cell) -> Result<String, CellProblem> {
    const FIX: &str =
        "Type a whole number with digits only, for example 42 (no spaces, separators or units).";
    match cell {
        Cell::Empty => Ok(String::new()),
        Cell::Int(i) => Ok(i.to_string()),
        Cell::Float(x) if x.fract() == 0.0 && x.abs() <= EXACT_INTEGER_LIMIT => {
            Ok(plain_number(*x))
        }
        Cell::Float(x) => Err(not_a_number(&plain_number(*x), "a whole number", FIX)),
        Cell::Text(text) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Ok(String::new());
            }
            match decimal_text(trimmed) {
                Some(d) if !d.contains('.') && d.parse::<i64>().is_ok() => Ok(d),
                Some(d) if !d.contains('.') => Err(CellProblem::new(
                    format!("{trimmed} is too large a whole number"),
                    "Whole numbers go up to 9223372036854775807; check the value.",
                )),
                _ => Err(not_a_number(&format!("\"{trimmed}\""), "a whole number", FIX)),
            }
        }
        Cell::Bool(_) => Err(not_a_number(&cell.to_string(), "a whole number", FIX)),
        Cell::DateTime(date) => Err(CellProblem::new(
            format!("Excel turned this number into a date ({date})"),
            "Format the column as Number and type the value again.",
        )),
        Cell::Duration(_) | Cell::Error(_) | Cell::FormulaWithoutValue(_) => {
            Err(never_a_value(cell).unwrap_or_else(|| CellProblem::new("not a value", "")))
        }
    }
}

fn decimal(cell: &Cell) -> Result<String, CellProblem> {
    const FIX: &str = "Type a number with a dot before the decimals, for example 12.5 (no spaces, \
                       separators or units).";
    match cell {
        Cell::Empty => Ok(String::new()),
        Cell::Int(i) => Ok(i.to_string()),
        Cell::Float(x) => Ok(plain_number(*x)),
        Cell::Text(text) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Ok(String::new());
            }
            match decimal_text(trimmed) {
                Some(d) => Ok(d),
                None if decimal_text(&trimmed.replacen(',', ".", 1)).is_some() => {
                    Err(CellProblem::new(
                        format!("\"{trimmed}\" uses a comma as decimal separator"),
                        format!("Type it with a dot: {}.", trimmed.replacen(',', ".", 1)),
                    ))
                }
                None => Err(not_a_number(&format!("\"{trimmed}\""), "a number", FIX)),
            }
        }
        Cell::Bool(_) => Err(not_a_number(&cell.to_string(), "a number", FIX)),
        Cell::DateTime(date) => Err(CellProblem::new(
            format!("Excel turned this number into a date ({date})"),
            "Format the column as Number and type the value again.",
        )),
        Cell::Duration(_) | Cell::Error(_) | Cell::FormulaWithoutValue(_) => {
            Err(never_a_value(cell).unwrap_or_else(|| CellProblem::new("not a value", "")))
        }
    }
}

fn boolean(cell: &Cell) -> Result<String, CellProblem> {
    let refused = |shown: String| {
        CellProblem::new(
            format!("{shown} is not TRUE or FALSE"),
            "Type TRUE or FALSE (yes/no and 1/0 are accepted too).",
        )
    };
    match cell {
        Cell::Empty => Ok(String::new()),
        Cell::Bool(b) => Ok(b.to_string()),
        Cell::Int(1) => Ok("true".into()),
        Cell::Int(0) => Ok("false".into()),
        Cell::Float(x) if *x == 1.0 => Ok("true".into()),
        Cell::Float(x) if *x == 0.0 => Ok("false".into()),
        Cell::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(String::new()),
            "true" | "yes" | "1" => Ok("true".into()),
            "false" | "no" | "0" => Ok("false".into()),
            _ => Err(refused(format!("\"{}\"", text.trim()))),
        },
        Cell::Int(_) | Cell::Float(_) | Cell::DateTime(_) => Err(refused(cell.to_string())),
        Cell::Duration(_) | Cell::Error(_) | Cell::FormulaWithoutValue(_) => {
            Err(never_a_value(cell).unwrap_or_else(|| CellProblem::new("not a value", "")))
        }
    }
}

/// `YYYY-MM-DD` and nothing else, as a real calendar date: then the text is its own
/// canonical form (the planner borrows it instead of formatting the date again, issue 6).
pub fn check_iso_date(text: &str) -> Result<(), CellProblem> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(CellProblem::new(
            format!("\"{text}\" is not a date in the form YYYY-MM-DD"),
            "Type the date as YYYY-MM-DD, for example 2024-01-31. Other orders such as \
             31/01/2024 are refused because they are ambiguous (is 01/02 January or February?).",
        ));
    }
    let part = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(0);
    let year = i32::try_from(part(0..4)).unwrap_or(0);
    match NaiveDate::from_ymd_opt(year, part(5..7), part(8..10)) {
        Some(_) => Ok(()),
        None => Err(CellProblem::new(
            format!("\"{text}\" is not a real calendar date"),
            "Check the month and the day.",
        )),
    }
}

fn date(cell: &Cell) -> Result<String, CellProblem> {
    match cell {
        Cell::Empty => Ok(String::new()),
        Cell::DateTime(date) if date.is_date() => Ok(date.iso()),
        Cell::DateTime(date) if date.is_time_only() => Err(CellProblem::new(
            format!("the cell holds a time of day ({date}), not a date"),
            "Type the date as YYYY-MM-DD, for example 2024-01-31.",
        )),
        Cell::DateTime(date) => Err(CellProblem::new(
            format!("the cell holds a date and a time ({date}); only a date is expected"),
            "Remove the time of day, or type the date as YYYY-MM-DD.",
        )),
        Cell::Text(text) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                Ok(String::new())
            } else {
                check_iso_date(trimmed).map(|()| trimmed.to_string())
            }
        }
        Cell::Int(_) | Cell::Float(_) | Cell::Bool(_) => Err(CellProblem::new(
            format!("{cell} is not a date"),
            "Type the date as YYYY-MM-DD, for example 2024-01-31, or format the cell as a date.",
        )),
        Cell::Duration(_) | Cell::Error(_) | Cell::FormulaWithoutValue(_) => {
            Err(never_a_value(cell).unwrap_or_else(|| CellProblem::new("not a value", "")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::CellDateTime;

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    fn ok(kind: &AttributeKind, cell: Cell) -> String {
        canonical(kind, &cell).unwrap_or_else(|p| panic!("{cell:?} as {kind:?}: {p}"))
    }

    fn problem(kind: &AttributeKind, cell: Cell) -> String {
        match canonical(kind, &cell) {
            Ok(v) => panic!("{cell:?} as {kind:?} was accepted as {v:?}"),
            Err(p) => {
                assert!(!p.fix.is_empty(), "every problem has a fix");
                p.message
            }
        }
    }

    fn reference() -> AttributeKind {
        AttributeKind::Reference { target: "User".into() }
    }

    #[test]
    fn text_keeps_what_was_typed_and_numbers_as_excel_shows_them() {
        use AttributeKind::Text;
        assert_eq!(ok(&Text, text("  Head of HR ")), "  Head of HR ");
        assert_eq!(ok(&Text, text("00123")), "00123");
        assert_eq!(ok(&Text, Cell::Float(42.0)), "42");
        assert_eq!(ok(&Text, Cell::Float(-0.0)), "0");
        assert_eq!(ok(&Text, Cell::Float(12.5)), "12.5");
        assert_eq!(ok(&Text, Cell::Float(0.1)), "0.1");
        assert_eq!(ok(&Text, Cell::Float(123_456_789_012.0)), "123456789012");
        assert_eq!(ok(&Text, Cell::Int(7)), "7");
        assert_eq!(ok(&Text, Cell::Bool(true)), "TRUE");
        assert_eq!(ok(&Text, Cell::Empty), "");
        assert_eq!(ok(&Text, text("1E5")), "1E5", "a code, not Excel's notation");
        assert_eq!(ok(&Text, text("2E+100")), "2E+100", "three exponent digits: not Excel's");
    }

    #[test]
    fn ids_in_scientific_notation_are_refused() {
        for kind in [AttributeKind::Text, reference()] {
            let m = problem(&kind, Cell::Float(1_234_567_890_123_456.0));
            assert!(m.contains("the number 1.234567890123456E+15 looks like an ID"), "{m}");
            let m = problem(&kind, text("1.23457E+15"));
            assert!(
                m.contains("\"1.23457E+15\" looks like an ID shown in scientific notation"),
                "{m}"
            );
            assert!(problem(&kind, text(" 1E+11")).contains("scientific"));
        }
        let key = canonical_key(&text("4.5E+12")).unwrap_err();
        assert!(key.message.contains("scientific notation"), "{key}");
    }

    #[test]
    fn text_turned_into_a_date_is_refused() {
        let cell = Cell::DateTime(CellDateTime::from_iso("2024-01-02").unwrap());
        let m = problem(&AttributeKind::Text, cell.clone());
        assert_eq!(m, "Excel turned this value into a date (2024-01-02)");
        assert!(canonical_key(&cell).is_err());
        assert!(problem(&reference(), cell).contains("into a date"));
    }

    #[test]
    fn keys_and_references_are_trimmed() {
        assert_eq!(canonical_key(&text("  U001 ")).unwrap(), "U001");
        assert_eq!(canonical_key(&Cell::Float(123.0)).unwrap(), "123");
        assert_eq!(ok(&reference(), text("\u{a0}U002\t")), "U002");
    }

    #[test]
    fn errors_formulas_and_durations_are_refused_for_every_kind() {
        let kinds = [
            AttributeKind::Text,
            AttributeKind::Integer,
            AttributeKind::Decimal,
            AttributeKind::Bool,
            AttributeKind::Date,
            AttributeKind::Email,
            reference(),
        ];
        for kind in &kinds {
            assert!(problem(kind, Cell::Error("#N/A".into())).contains("Excel error #N/A"));
            let m = problem(kind, Cell::FormulaWithoutValue("SUM(A1:A3)".into()));
            assert!(m.contains("the formula =SUM(A1:A3) but no calculated value"), "{m}");
            let m = problem(kind, Cell::FormulaWithoutValue("".into()));
            assert!(m.starts_with("the cell holds a formula but"), "{m}");
            assert!(problem(kind, Cell::Duration("36:00:00".into())).contains("duration"));
            assert_eq!(ok(kind, Cell::Empty), "", "empty is the empty value for {kind:?}");
        }
        assert!(canonical_key(&Cell::Error("#REF!".into())).is_err());
    }

    #[test]
    fn emails_get_a_sanity_check() {
        use AttributeKind::Email;
        assert_eq!(ok(&Email, text(" Ada.Lovelace@Example.com ")), "Ada.Lovelace@Example.com");
        assert!(problem(&Email, text("ada lovelace@example.com")).contains("space"));
        assert!(problem(&Email, text("ada\u{b}lovelace@example.com")).contains("space"));
        assert!(problem(&Email, text("adé\u{a0}lovelace@example.com")).contains("space"));
        assert_eq!(ok(&Email, text("adé@exemple.fr")), "adé@exemple.fr");
        assert!(problem(&Email, text("ada@@example.com")).contains("exactly one @"));
        assert!(problem(&Email, text("ada.example.com")).contains("exactly one @"));
        assert!(problem(&Email, text("@example.com")).contains("before the @"));
        assert!(problem(&Email, text("ada@localhost")).contains("domain"));
        assert!(problem(&Email, text("ada@example.")).contains("domain"));
        assert!(problem(&Email, text("ada@example..com")).contains("domain"));
        assert!(problem(&Email, text("ada@.example.com")).contains("domain"));
        assert_eq!(ok(&Email, text("ada..love@example.com")), "ada..love@example.com");
        assert!(problem(&Email, Cell::Float(42.0)).contains("\"42\" is not an e-mail"));
    }

    #[test]
    fn integers_accept_whole_numbers_and_numeric_text() {
        use AttributeKind::Integer;
        assert_eq!(ok(&Integer, Cell::Float(42.0)), "42");
        assert_eq!(ok(&Integer, Cell::Int(-3)), "-3");
        assert_eq!(ok(&Integer, text(" 0042 ")), "42");
        assert_eq!(ok(&Integer, text("+7")), "7");
        assert_eq!(ok(&Integer, text("-0")), "0");
        assert_eq!(ok(&Integer, text("42.00")), "42");
        assert_eq!(ok(&Integer, text("  ")), "");
        assert!(problem(&Integer, Cell::Float(2.5)).contains("2.5 is not a whole number"));
        assert!(problem(&Integer, Cell::Float(1e300)).contains("not a whole number"));
        assert!(problem(&Integer, text("1,000")).contains("\"1,000\" is not a whole number"));
        assert!(problem(&Integer, text("12 kg")).contains("not a whole number"));
        assert!(problem(&Integer, text("99999999999999999999")).contains("too large"));
        assert!(problem(&Integer, Cell::Bool(true)).contains("TRUE is not"));
        let date = Cell::DateTime(CellDateTime::from_iso("2024-01-31").unwrap());
        assert!(problem(&Integer, date).contains("into a date"));
    }

    #[test]
    fn decimals_take_the_shortest_form() {
        use AttributeKind::Decimal;
        assert_eq!(ok(&Decimal, Cell::Float(12.5)), "12.5");
        assert_eq!(ok(&Decimal, Cell::Float(3.0)), "3");
        assert_eq!(ok(&Decimal, Cell::Int(3)), "3");
        assert_eq!(ok(&Decimal, text("012.50")), "12.5");
        assert_eq!(ok(&Decimal, text(".5")), "0.5");
        assert_eq!(ok(&Decimal, text("-0.0")), "0");
        assert_eq!(ok(&Decimal, text("5.")), "5");
        let m = problem(&Decimal, text("12,5"));
        assert!(m.contains("comma as decimal separator"), "{m}");
        assert!(problem(&Decimal, text("1.5E3")).contains("not a number"));
        assert!(problem(&Decimal, text(".")).contains("not a number"));
        assert!(problem(&Decimal, text("-")).contains("not a number"));
    }

    #[test]
    fn booleans_accept_the_usual_spellings() {
        use AttributeKind::Bool;
        for (input, expected) in [
            ("TRUE", "true"),
            ("False", "false"),
            ("yes", "true"),
            ("NO", "false"),
            (" 1 ", "true"),
            ("0", "false"),
        ] {
            assert_eq!(ok(&Bool, text(input)), expected, "{input}");
        }
        assert_eq!(ok(&Bool, Cell::Bool(false)), "false");
        assert_eq!(ok(&Bool, Cell::Float(1.0)), "true");
        assert_eq!(ok(&Bool, Cell::Int(0)), "false");
        assert!(problem(&Bool, text("maybe")).contains("\"maybe\" is not TRUE or FALSE"));
        assert!(problem(&Bool, Cell::Float(2.0)).contains("2 is not TRUE or FALSE"));
        assert!(problem(&Bool, text("VRAI")).contains("not TRUE or FALSE"));
    }

    #[test]
    fn dates_are_iso_only() {
        use AttributeKind::Date;
        let cell = |iso: &str| Cell::DateTime(CellDateTime::from_iso(iso).unwrap());
        assert_eq!(ok(&Date, cell("2024-01-31")), "2024-01-31");
        assert_eq!(ok(&Date, text(" 2024-02-29 ")), "2024-02-29");
        let m = problem(&Date, text("31/01/2024"));
        assert!(m.contains("\"31/01/2024\" is not a date in the form YYYY-MM-DD"), "{m}");
        let fix = canonical(&Date, &text("31/01/2024")).unwrap_err().fix;
        assert!(fix.contains("ambiguous"), "{fix}");
        assert!(problem(&Date, text("2024-1-31")).contains("YYYY-MM-DD"));
        assert!(problem(&Date, text("2023-02-29")).contains("not a real calendar date"));
        assert!(problem(&Date, text("2024-13-01")).contains("not a real calendar date"));
        assert!(problem(&Date, cell("2024-01-31T08:00:00")).contains("a date and a time"));
        assert!(problem(&Date, cell("08:00:00")).contains("time of day"));
        assert!(problem(&Date, Cell::Float(45322.0)).contains("45322 is not a date"));
    }

    #[test]
    fn problems_print_message_then_fix() {
        let p = canonical(&AttributeKind::Date, &text("x")).unwrap_err();
        assert!(p.to_string().starts_with("\"x\" is not a date in the form YYYY-MM-DD. Type"));
        assert_eq!(NULL_NULL, crate::template::NULL_VALUE, "one spelling across the crate");
    }
}
