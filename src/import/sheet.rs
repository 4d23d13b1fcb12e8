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

/// The cells of one row as they arrived: (0-based column, cell).
type SparseRow = Vec<(u32, Cell)>;

/// Collects the non-empty cells of one sheet, refusing what breaks a limit.
///
/// Cells come row by row, top to bottom, in nearly every file: each row is then aligned to the
/// header's columns as soon as it is complete ([`Layout::Aligned`]), so a large upload holds
/// its cells once, rather than a sparse copy beside the aligned one (a third of the read's
/// memory, issue 6). A row that comes after a row below it, or whose cells are not left to
/// right (formulas read after values, an `.xlsx` written out of order) turns the sheet sparse
/// ([`Layout::Sparse`]), aligned only when it is finished. Both give the same sheet.
pub(crate) struct SheetBuilder<'a> {
    file: &'a str,
    name: String,
    layout: Layout,
    /// The row cells are arriving for, kept aside until another row starts: cells come row by
    /// row, and one step per row rather than per cell saves a tenth of a read.
    current: Option<(u32, SparseRow)>,
    /// The buffer of the last row aligned, reused for the next one.
    spare: SparseRow,
    /// The most cells a row held so far: a new row is sized for it, rather than grown
    /// through four reallocations.
    width: usize,
}

/// How the complete rows are held.
enum Layout {
    Aligned(Aligned),
    /// 0-based row -> its cells, in arrival order (a row met again gets the new cells after).
    Sparse(BTreeMap<u32, SparseRow>),
}

/// Rows aligned to the header as they complete, in increasing row order.
#[derive(Default)]
struct Aligned {
    /// The last row completed (0-based): a row at or above it came out of order.
    last: Option<u32>,
    /// The blank rows above the header, as they came.
    leading: Vec<(u32, SparseRow)>,
    /// The first row that is not blank.
    header: Option<Header>,
    /// The rows below the header, blank ones included, one cell per header column.
    rows: Vec<RawRow>,
    /// Indexes in `rows` of the blank rows, left out when the sheet is finished.
    blank: Vec<usize>,
    /// Cells under no header (or a blank one): (index in `rows`, column, cell), in order.
    strays: Vec<(usize, u32, Cell)>,
}

/// The header row and the columns it names.
struct Header {
    /// 0-based row.
    row: u32,
    cells: SparseRow,
    /// The columns whose header is not blank, left to right.
    columns: Vec<u32>,
    /// Column -> its place in `columns`, for every column up to the last of them.
    place: Vec<Option<usize>>,
}

impl Header {
    fn new(row: u32, cells: SparseRow) -> Header {
        let columns: Vec<u32> = header_texts(&cells).into_keys().collect();
        let mut place = vec![None; columns.last().map_or(0, |c| *c as usize + 1)];
        for (i, column) in columns.iter().enumerate() {
            place[*column as usize] = Some(i);
        }
        Header { row, cells, columns, place }
    }

    fn place(&self, column: u32) -> Option<usize> {
        self.place.get(column as usize).copied().flatten()
    }
}

/// The header text of each column whose header cell is not blank (the last one written wins).
fn header_texts(cells: &[(u32, Cell)]) -> BTreeMap<u32, String> {
    cells.iter().filter(|(_, c)| !c.is_blank()).map(|(col, c)| (*col, c.to_string())).collect()
}

fn is_blank_row(cells: &[(u32, Cell)]) -> bool {
    cells.iter().all(|(_, c)| c.is_blank())
}

impl<'a> SheetBuilder<'a> {
    pub(crate) fn new(file: &'a str, name: &str) -> SheetBuilder<'a> {
        SheetBuilder {
            file,
            name: name.to_string(),
            layout: Layout::Aligned(Aligned::default()),
            current: None,
            spare: Vec::new(),
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
            Cell::FormulaWithoutValue(formula) => Some(&**formula),
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
                self.flush()?;
                let mut cells = std::mem::take(&mut self.spare);
                cells.reserve(self.width);
                &mut self.current.insert((row, cells)).1
            }
        };
        cells.push((column, cell));
        self.width = self.width.max(cells.len());
        Ok(())
    }

    /// Completes the current row: aligns it, or files it in the sparse rows.
    fn flush(&mut self) -> Result<()> {
        let Some((row, cells)) = self.current.take() else { return Ok(()) };
        // A row out of order, or one whose columns do not run left to right (a cell written
        // twice would hide the first, which the sparse rows keep): the sheet turns sparse.
        if let Layout::Aligned(aligned) = &mut self.layout
            && (aligned.last.is_some_and(|last| row <= last)
                || !cells.windows(2).all(|pair| pair[0].0 < pair[1].0))
        {
            self.layout = Layout::Sparse(std::mem::take(aligned).into_sparse());
        }
        match &mut self.layout {
            Layout::Aligned(aligned) => {
                aligned.last = Some(row);
                match &aligned.header {
                    None if is_blank_row(&cells) => aligned.leading.push((row, cells)),
                    None => aligned.header = Some(Header::new(row, cells)),
                    Some(header) => {
                        check_area(
                            self.file,
                            &self.name,
                            aligned.rows.len() + 1,
                            header.columns.len(),
                        )?;
                        let index = aligned.rows.len();
                        if is_blank_row(&cells) {
                            aligned.blank.push(index);
                        }
                        let mut values = vec![Cell::Empty; header.columns.len()];
                        let mut cells = cells;
                        for (column, cell) in cells.drain(..) {
                            match header.place(column) {
                                Some(i) => values[i] = cell,
                                None => aligned.strays.push((index, column, cell)),
                            }
                        }
                        aligned.rows.push(RawRow { row: row + 1, cells: values.into() });
                        self.spare = cells;
                    }
                }
            }
            Layout::Sparse(rows) => match rows.entry(row) {
                Entry::Vacant(e) => {
                    e.insert(cells);
                }
                Entry::Occupied(mut e) => e.get_mut().extend(cells),
            },
        }
        Ok(())
    }

    /// The sheet: the first non-blank row is the header; blank rows are left out. Columns are
    /// those with a header, and those holding data under no header (with an empty header).
    ///
    /// # Errors
    ///
    /// A sheet whose rows times columns exceed [`MAX_CELLS`] (see [`check_area`]).
    pub(crate) fn finish(mut self) -> Result<RawSheet> {
        self.flush()?;
        match self.layout {
            Layout::Aligned(aligned) => aligned.finish(self.file, self.name),
            Layout::Sparse(rows) => finish_sparse(self.file, self.name, rows),
        }
    }

    /// The rows as (column A, column B) text pairs, for the metadata sheet: every row whose
    /// column A is not blank, header row included.
    pub(crate) fn into_pairs(mut self) -> Result<Vec<(String, String)>> {
        self.flush()?;
        let rows = match self.layout {
            Layout::Aligned(aligned) => aligned.into_sparse(),
            Layout::Sparse(rows) => rows,
        };
        Ok(rows
            .into_values()
            .filter_map(|cells| {
                // The last cell written wins, as in a data sheet.
                let text = |column: u32| {
                    cells.iter().rfind(|(c, _)| *c == column).map(|(_, v)| v.to_string())
                };
                let key = text(0).filter(|k| !k.trim().is_empty())?;
                Some((key, text(1).unwrap_or_default()))
            })
            .collect())
    }
}

impl Aligned {
    /// The same rows, sparse: each cell under its column again.
    fn into_sparse(self) -> BTreeMap<u32, SparseRow> {
        let mut sparse: BTreeMap<u32, SparseRow> = self.leading.into_iter().collect();
        let Some(header) = self.header else { return sparse };
        sparse.insert(header.row, header.cells);
        let mut strays = self.strays.into_iter().peekable();
        for (index, raw) in self.rows.into_iter().enumerate() {
            let mut cells: SparseRow = header
                .columns
                .iter()
                .zip(raw.cells.into_cells())
                .filter(|(_, cell)| *cell != Cell::Empty)
                .map(|(column, cell)| (*column, cell))
                .collect();
            while let Some((_, column, cell)) = strays.next_if(|(i, _, _)| *i == index) {
                cells.push((column, cell));
            }
            sparse.insert(raw.row - 1, cells);
        }
        sparse
    }

    fn finish(self, file: &str, name: String) -> Result<RawSheet> {
        let Some(header) = self.header else {
            return Ok(RawSheet { name, headers: Vec::new(), rows: Vec::new() });
        };
        let mut texts = header_texts(&header.cells);
        // A column under no header is kept when a row holds data in it (the row is then not
        // blank); it gets an empty header.
        for (_, column, cell) in &self.strays {
            if !cell.is_blank() {
                texts.entry(*column).or_default();
            }
        }
        let headers: Vec<RawHeader> =
            texts.into_iter().map(|(column, text)| RawHeader { column, text }).collect();
        let row_count = self.rows.len();
        let mut blank = self.blank.into_iter().peekable();
        let kept = self.rows.into_iter().enumerate().filter(|(index, _)| {
            let is_blank = blank.next_if_eq(index).is_some();
            !is_blank
        });
        if headers.len() == header.columns.len() {
            // No data under a missing header (the usual case): the rows are ready.
            return Ok(RawSheet { name, headers, rows: kept.map(|(_, row)| row).collect() });
        }
        check_area(file, &name, row_count, headers.len())?;
        // Rows widen to the new columns; a stray cell lands in its column, the last one
        // written winning (a blank one too, as it would in a column with a header).
        let new_place: BTreeMap<u32, usize> =
            headers.iter().enumerate().map(|(i, h)| (h.column, i)).collect();
        let moved: Vec<usize> = header.columns.iter().map(|c| new_place[c]).collect();
        let mut strays = self.strays.into_iter().peekable();
        let rows = kept
            .map(|(index, row)| {
                let mut cells = vec![Cell::Empty; headers.len()];
                for (cell, to) in row.cells.into_cells().into_iter().zip(&moved) {
                    cells[*to] = cell;
                }
                while strays.next_if(|(i, _, _)| *i < index).is_some() {}
                while let Some((_, column, cell)) = strays.next_if(|(i, _, _)| *i == index) {
                    if let Some(&to) = new_place.get(&column) {
                        cells[to] = cell;
                    }
                }
                RawRow { row: row.row, cells: cells.into() }
            })
            .collect();
        Ok(RawSheet { name, headers, rows })
    }
}

/// Aligns sparse rows: the header is the first row that is not blank.
fn finish_sparse(file: &str, name: String, rows: BTreeMap<u32, SparseRow>) -> Result<RawSheet> {
    let mut rows = rows.into_iter().filter(|(_, cells)| !is_blank_row(cells));
    let Some((_, header_cells)) = rows.next() else {
        return Ok(RawSheet { name, headers: Vec::new(), rows: Vec::new() });
    };
    let data: Vec<(u32, SparseRow)> = rows.collect();
    let mut columns = header_texts(&header_cells);
    for (_, cells) in &data {
        for (col, cell) in cells {
            if !cell.is_blank() {
                columns.entry(*col).or_default();
            }
        }
    }
    check_area(file, &name, data.len(), columns.len())?;
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
            RawRow { row: row + 1, cells: aligned.into() }
        })
        .collect();
    Ok(RawSheet { name, headers, rows })
}

/// Refuses a sheet whose data rows times columns exceed [`MAX_CELLS`]: every row holds a
/// cell per column once aligned, so a few values far to the right of many rows would
/// otherwise cost gigabytes.
fn check_area(file: &str, sheet: &str, rows: usize, columns: usize) -> Result<()> {
    let area = rows as u64 * columns as u64;
    if area > MAX_CELLS {
        return Err(invalid(format!(
            "{file} is refused: the sheet {sheet} spans {} rows of {columns} columns, more than \
             the {} cells idbulk reads. Delete the unused columns, or split it into smaller files.",
            thousands(rows as u64),
            thousands(MAX_CELLS)
        )));
    }
    Ok(())
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
    use proptest::prelude::*;

    impl<'a> SheetBuilder<'a> {
        /// A builder that keeps every row sparse: the reference the aligned one must match.
        fn sparse(file: &'a str, name: &str) -> SheetBuilder<'a> {
            SheetBuilder {
                layout: Layout::Sparse(BTreeMap::new()),
                ..SheetBuilder::new(file, name)
            }
        }
    }

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
        let sheet = b.finish().unwrap();
        let headers: Vec<_> = sheet.headers.iter().map(|h| (h.column, h.text.as_str())).collect();
        assert_eq!(headers, [(1, "Identifier"), (2, "Email"), (4, "")]);
        let rows: Vec<_> = sheet.rows.iter().map(|r| (r.row, r.cells.to_vec())).collect();
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
        let rows: Vec<_> =
            b.finish().unwrap().rows.into_iter().map(|r| (r.row, r.cells.into_cells())).collect();
        assert_eq!(rows, [(2, vec![text("z"), text("c")]), (3, vec![text("b"), Cell::Empty])]);
    }

    #[test]
    fn an_empty_sheet_has_no_header() {
        let sheet = SheetBuilder::new("f.xlsx", "User").finish().unwrap();
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
            b.into_pairs().unwrap(),
            [
                ("key".into(), "value".into()),
                ("schema_version".into(), "3".into()),
                ("empty".into(), String::new())
            ]
        );
    }

    #[test]
    fn data_under_no_header_gets_a_column_of_its_own_between_the_others() {
        let mut budget = CellBudget::default();
        let mut b = SheetBuilder::new("f.xlsx", "User");
        b.push(&mut budget, 0, 0, text("Identifier")).unwrap();
        b.push(&mut budget, 0, 1, text("  ")).unwrap(); // a blank header
        b.push(&mut budget, 0, 3, text("Email")).unwrap();
        b.push(&mut budget, 1, 0, text("a")).unwrap();
        b.push(&mut budget, 1, 2, text(" ")).unwrap(); // blank, under no header
        b.push(&mut budget, 1, 3, text("a@b.c")).unwrap();
        b.push(&mut budget, 2, 1, text("stray")).unwrap();
        b.push(&mut budget, 3, 2, text("  ")).unwrap(); // a blank row
        b.push(&mut budget, 4, 2, text("z")).unwrap();
        b.push(&mut budget, 4, 1, text(" ")).unwrap();
        let sheet = b.finish().unwrap();
        let headers: Vec<_> = sheet.headers.iter().map(|h| (h.column, h.text.as_str())).collect();
        assert_eq!(headers, [(0, "Identifier"), (1, ""), (2, ""), (3, "Email")]);
        let rows: Vec<_> = sheet.rows.iter().map(|r| (r.row, r.cells.to_vec())).collect();
        let empty = Cell::Empty;
        assert_eq!(
            rows,
            [
                (2, vec![text("a"), empty.clone(), text(" "), text("a@b.c")]),
                (3, vec![empty.clone(), text("stray"), empty.clone(), empty.clone()]),
                (5, vec![empty.clone(), text(" "), text("z"), empty]),
            ]
        );
    }

    #[test]
    fn a_sheet_whose_rows_times_columns_exceed_the_cell_limit_is_refused() {
        let columns = MAX_COLUMNS;
        let rows = u32::try_from(MAX_CELLS / u64::from(columns)).unwrap() + 1;
        for mut b in [SheetBuilder::new("f.xlsx", "User"), SheetBuilder::sparse("f.xlsx", "User")] {
            let mut budget = CellBudget::default();
            for column in 0..columns {
                b.push(&mut budget, 0, column, text("h")).unwrap();
            }
            // One value a row: few cells, but each row holds a cell per column once aligned.
            let mut outcome = Ok(());
            for row in 1..=rows {
                outcome = outcome.and_then(|()| b.push(&mut budget, row, 0, text("k")));
            }
            let e = outcome.and_then(|()| b.finish().map(|_| ())).unwrap_err();
            assert!(
                e.message.contains("sheet User spans 60,001 rows of 500 columns"),
                "{}",
                e.message
            );
        }
    }

    fn arbitrary_cell() -> impl Strategy<Value = Cell> {
        prop_oneof![
            Just(Cell::Empty),
            Just(text(" ")),
            Just(text("a")),
            Just(text("b")),
            Just(Cell::Float(1.0)),
        ]
    }

    proptest! {
        #[test]
        fn aligning_rows_as_they_come_gives_the_sheet_sparse_rows_give(
            cells in prop::collection::vec((0u32..6, 0u32..5, arbitrary_cell()), 0..40),
            in_row_order in any::<bool>(),
        ) {
            let mut cells = cells;
            if in_row_order {
                // As files write them (a stable sort keeps each row's own order).
                cells.sort_by_key(|(row, _, _)| *row);
            }
            fn build<'a>(mut b: SheetBuilder<'a>, cells: &[(u32, u32, Cell)]) -> SheetBuilder<'a> {
                let mut budget = CellBudget::default();
                for (row, column, cell) in cells {
                    b.push(&mut budget, *row, *column, cell.clone()).unwrap();
                }
                b
            }
            let aligned = build(SheetBuilder::new("f.xlsx", "S"), &cells).finish().unwrap();
            let sparse = build(SheetBuilder::sparse("f.xlsx", "S"), &cells).finish().unwrap();
            prop_assert_eq!(&aligned.headers, &sparse.headers);
            prop_assert_eq!(&aligned.rows, &sparse.rows);
            let pairs = build(SheetBuilder::new("f.xlsx", "S"), &cells).into_pairs().unwrap();
            let sparse_pairs = build(SheetBuilder::sparse("f.xlsx", "S"), &cells).into_pairs();
            prop_assert_eq!(pairs, sparse_pairs.unwrap());
        }
    }
}
