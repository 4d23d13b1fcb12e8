//! Assembling a [`RawSheet`] from cells given one by one, in any order, under the limits.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::limits::{MAX_CELL_CHARS, MAX_CELLS, MAX_COLUMNS, MAX_ROWS, thousands};
use super::location::Location;
use super::{Cell, RawHeader, RawRow, RawSheet, invalid};
use crate::error::Result;

/// Counts the non-empty cells of a whole workbook against [`MAX_CELLS`].
#[derive(Debug, Default)]
pub(crate) struct CellBudget {
    used: u64,
}

/// Collects the non-empty cells of one sheet, refusing what breaks a limit.
pub(crate) struct SheetBuilder<'a> {
    file: &'a str,
    name: String,
    /// 0-based row -> (0-based column, cell), in arrival order.
    rows: BTreeMap<u32, Vec<(u32, Cell)>>,
    /// The row cells are arriving for, kept out of `rows` until another row starts: cells come
    /// row by row, and one map lookup per row rather than per cell saves a tenth of a read.
    current: Option<(u32, Vec<(u32, Cell)>)>,
    /// The most cells a row held so far: a new row is sized for it, rather than grown
    /// through four reallocations.
    width: usize,
}

impl<'a> SheetBuilder<'a> {
    pub(crate) fn new(file: &'a str, name: &str) -> SheetBuilder<'a> {
        SheetBuilder {
            file,
            name: name.to_string(),
            rows: BTreeMap::new(),
            current: None,
            width: 0,
        }
    }

    /// Adds a cell at a 0-based position. Empty cells are dropped.
    pub(crate) fn push(
        &mut self,
        budget: &mut CellBudget,
        row: u32,
        column: u32,
        cell: Cell,
    ) -> Result<()> {
        if cell == Cell::Empty {
            return Ok(());
        }
        let excel_row = row.saturating_add(1);
        if excel_row > MAX_ROWS || column >= MAX_COLUMNS {
            let at = Location::cell(&self.name, excel_row, column);
            return Err(invalid(format!(
                "{} is refused: {} holds a value, beyond what idbulk reads (at most {} rows and \
                 {} columns). Delete the unused rows and columns, or copy the data into a new \
                 workbook.",
                self.file,
                at,
                thousands(u64::from(MAX_ROWS)),
                MAX_COLUMNS
            )));
        }
        let text = match &cell {
            Cell::Text(text) => Some(text.as_str()),
            Cell::FormulaWithoutValue(formula) => Some(formula.as_str()),
            _ => None,
        };
        if let Some(text) = text {
            check_cell_length(self.file, text, || Location::cell(&self.name, excel_row, column))?;
        }
        budget.used += 1;
        if budget.used > MAX_CELLS {
            return Err(invalid(format!(
                "{} is refused: it holds more than {} filled cells, more than idbulk reads. \
                 Split it into smaller files.",
                self.file,
                thousands(MAX_CELLS)
            )));
        }
        let cells = match &mut self.current {
            Some((r, cells)) if *r == row => cells,
            _ => {
                self.flush();
                &mut self.current.insert((row, Vec::with_capacity(self.width))).1
            }
        };
        cells.push((column, cell));
        self.width = self.width.max(cells.len());
        Ok(())
    }

    /// Moves the current row into `rows`, after any cells that row already had.
    fn flush(&mut self) {
        if let Some((row, cells)) = self.current.take() {
            match self.rows.entry(row) {
                Entry::Vacant(e) => {
                    e.insert(cells);
                }
                Entry::Occupied(mut e) => e.get_mut().extend(cells),
            }
        }
    }

    /// The sheet: the first non-blank row is the header; blank rows are left out.
    pub(crate) fn finish(mut self) -> RawSheet {
        self.flush();
        let is_blank_row = |cells: &Vec<(u32, Cell)>| cells.iter().all(|(_, c)| c.is_blank());
        let mut rows = self.rows.into_iter().filter(|(_, cells)| !is_blank_row(cells));
        let Some((_, header_cells)) = rows.next() else {
            return RawSheet { name: self.name, headers: Vec::new(), rows: Vec::new() };
        };
        let data: Vec<(u32, Vec<(u32, Cell)>)> = rows.collect();
        // Columns: those with a header, and those holding data under no header.
        let mut columns: BTreeMap<u32, String> = header_cells
            .iter()
            .filter(|(_, c)| !c.is_blank())
            .map(|(col, c)| (*col, c.to_string()))
            .collect();
        for (_, cells) in &data {
            for (col, cell) in cells {
                if !cell.is_blank() {
                    columns.entry(*col).or_default();
                }
            }
        }
        let index: BTreeMap<u32, usize> =
            columns.keys().enumerate().map(|(i, col)| (*col, i)).collect();
        let headers: Vec<RawHeader> =
            columns.into_iter().map(|(column, text)| RawHeader { column, text }).collect();
        let rows = data
            .into_iter()
            .map(|(row, cells)| {
                let mut aligned = vec![Cell::Empty; headers.len()];
                for (col, cell) in cells {
                    // A whitespace-only cell in a column without header is dropped: it is
                    // blank, and its column was not kept.
                    if let Some(&i) = index.get(&col) {
                        aligned[i] = cell;
                    }
                }
                RawRow { row: row + 1, cells: aligned }
            })
            .collect();
        RawSheet { name: self.name, headers, rows }
    }

    /// The rows as (column A, column B) text pairs, for the metadata sheet: every row whose
    /// column A is not blank, header row included.
    pub(crate) fn into_pairs(mut self) -> Vec<(String, String)> {
        self.flush();
        self.rows
            .into_values()
            .filter_map(|cells| {
                let text = |column: u32| {
                    cells.iter().find(|(c, _)| *c == column).map(|(_, v)| v.to_string())
                };
                let key = text(0).filter(|k| !k.trim().is_empty())?;
                Some((key, text(1).unwrap_or_default()))
            })
            .collect()
    }
}

/// Refuses a cell longer than [`MAX_CELL_CHARS`] characters (Excel's own limit).
pub(crate) fn check_cell_length(
    file: &str,
    text: &str,
    at: impl FnOnce() -> Location,
) -> Result<()> {
    // Counting characters is needed only when the bytes could exceed the limit.
    if text.len() > MAX_CELL_CHARS {
        let chars = text.chars().count();
        if chars > MAX_CELL_CHARS {
            return Err(invalid(format!(
                "{file} is refused: {} holds {} characters; a cell holds at most {} (Excel's own \
                 limit). Shorten it.",
                at().describe(),
                thousands(chars as u64),
                thousands(MAX_CELL_CHARS as u64)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn the_first_non_blank_row_is_the_header_and_blank_rows_are_dropped() {
        let mut budget = CellBudget::default();
        let mut b = SheetBuilder::new("f.xlsx", "User");
        b.push(&mut budget, 1, 0, text("   ")).unwrap(); // row 2: blank
        b.push(&mut budget, 2, 1, text("Identifier")).unwrap(); // row 3: header
        b.push(&mut budget, 2, 2, text("Email")).unwrap();
        b.push(&mut budget, 4, 2, text("a@b.c")).unwrap(); // row 5
        b.push(&mut budget, 3, 1, Cell::Float(42.0)).unwrap(); // row 4, pushed out of order
        b.push(&mut budget, 6, 1, Cell::Empty).unwrap(); // dropped
        b.push(&mut budget, 7, 4, text("orphan")).unwrap(); // row 8, column E has no header
        let sheet = b.finish();
        let headers: Vec<_> = sheet.headers.iter().map(|h| (h.column, h.text.as_str())).collect();
        assert_eq!(headers, [(1, "Identifier"), (2, "Email"), (4, "")]);
        let rows: Vec<_> = sheet.rows.iter().map(|r| (r.row, r.cells.clone())).collect();
        assert_eq!(
            rows,
            [
                (4, vec![Cell::Float(42.0), Cell::Empty, Cell::Empty]),
                (5, vec![Cell::Empty, text("a@b.c"), Cell::Empty]),
                (8, vec![Cell::Empty, Cell::Empty, text("orphan")]),
            ]
        );
    }

    #[test]
    fn a_row_met_again_keeps_its_cells_in_arrival_order() {
        let mut budget = CellBudget::default();
        let mut b = SheetBuilder::new("f.xlsx", "User");
        b.push(&mut budget, 0, 0, text("Identifier")).unwrap();
        b.push(&mut budget, 0, 1, text("Email")).unwrap();
        b.push(&mut budget, 1, 0, text("a")).unwrap();
        b.push(&mut budget, 2, 0, text("b")).unwrap();
        b.push(&mut budget, 1, 1, text("c")).unwrap();
        b.push(&mut budget, 1, 0, text("z")).unwrap(); // the same cell again: the last one wins
        let rows: Vec<_> = b.finish().rows.into_iter().map(|r| (r.row, r.cells)).collect();
        assert_eq!(rows, [(2, vec![text("z"), text("c")]), (3, vec![text("b"), Cell::Empty])]);
    }

    #[test]
    fn an_empty_sheet_has_no_header() {
        let sheet = SheetBuilder::new("f.xlsx", "User").finish();
        assert!(sheet.headers.is_empty() && sheet.rows.is_empty());
    }

    #[test]
    fn cells_beyond_the_limits_are_refused_naming_them() {
        let mut budget = CellBudget::default();
        let mut b = SheetBuilder::new("f.xlsx", "User");
        let e = b.push(&mut budget, 0, MAX_COLUMNS, text("x")).unwrap_err();
        assert!(e.message.contains("User!SG1 holds a value"), "{}", e.message);
        assert!(b.push(&mut budget, MAX_ROWS, 0, text("x")).is_err());
        assert!(b.push(&mut budget, MAX_ROWS - 1, MAX_COLUMNS - 1, text("x")).is_ok());
        let long = "é".repeat(MAX_CELL_CHARS + 1);
        let e = b.push(&mut budget, 11, 2, text(&long)).unwrap_err();
        assert!(e.message.contains("sheet User, row 12, column C holds 32,768"), "{}", e.message);
        let exact = "é".repeat(MAX_CELL_CHARS);
        assert!(b.push(&mut budget, 11, 2, text(&exact)).is_ok(), "the limit itself is allowed");
    }

    #[test]
    fn the_cell_budget_spans_the_workbook() {
        let mut budget = CellBudget { used: MAX_CELLS - 1 };
        let mut b = SheetBuilder::new("f.xlsx", "User");
        b.push(&mut budget, 0, 0, text("a")).unwrap();
        let e = b.push(&mut budget, 0, 1, text("b")).unwrap_err();
        assert!(e.message.contains("more than 30,000,000 filled cells"), "{}", e.message);
    }

    #[test]
    fn metadata_rows_become_pairs() {
        let mut budget = CellBudget::default();
        let mut b = SheetBuilder::new("f.xlsx", "_idbulk");
        b.push(&mut budget, 0, 0, text("key")).unwrap();
        b.push(&mut budget, 0, 1, text("value")).unwrap();
        b.push(&mut budget, 1, 0, text("schema_version")).unwrap();
        b.push(&mut budget, 1, 1, Cell::Float(3.0)).unwrap();
        b.push(&mut budget, 2, 1, text("no key")).unwrap();
        b.push(&mut budget, 3, 0, text("empty")).unwrap();
        assert_eq!(
            b.into_pairs(),
            [
                ("key".into(), "value".into()),
                ("schema_version".into(), "3".into()),
                ("empty".into(), String::new())
            ]
        );
    }
}
