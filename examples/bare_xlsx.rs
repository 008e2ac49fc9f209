//! The baseline of the Sábana benchmark: rust_xlsxwriter alone writing the same rows as the
//! portal's export, with no database and no web server.
//!
//!     cargo run --release --example bare_xlsx -- OUT_DIR SABANA.csv...
//!
//! Each CSV is a Sábana the portal exported (one per period); all of them are read into memory
//! first, then each is written as its own workbook of the export's shape (a bold header, frozen
//! first row, 23 columns 18 wide, constant-memory sheets of at most 1,048,575 rows, the day and
//! attachment counts as numbers). Only the writing is timed: the seconds are printed on stdout.

use std::time::Instant;

use rust_xlsxwriter::{Format, Workbook};

const LAST_ROW: u32 = 1_048_575;
/// "Días hábiles" and "Adjuntos", the Sábana's numeric columns.
const NUMBER_COLUMNS: [usize; 2] = [19, 21];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out_dir = args.next().ok_or("OUT_DIR")?;
    let mut tables = Vec::new();
    for path in args {
        let text = std::fs::read_to_string(&path)?;
        let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
        let rows = reader
            .records()
            .map(|record| Ok(record?.iter().map(str::to_owned).collect()))
            .collect::<Result<Vec<Vec<String>>, csv::Error>>()?;
        tables.push((header, rows));
    }
    let started = Instant::now();
    for (n, (header, rows)) in tables.into_iter().enumerate() {
        write(&header, rows, &format!("{out_dir}/bare-{n}.xlsx"))?;
    }
    println!("{:.3}", started.elapsed().as_secs_f64());
    Ok(())
}

fn write(
    header: &[String],
    rows: Vec<Vec<String>>,
    out: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let (mut sheets, mut row) = (0, LAST_ROW + 1);
    for cells in rows {
        if row > LAST_ROW {
            let sheet = workbook.add_worksheet_with_constant_memory()?;
            sheet.set_name(match sheets {
                0 => "Solicitudes".to_string(),
                n => format!("Solicitudes {}", n + 1),
            })?;
            sheet.set_freeze_panes(1, 0)?;
            for (column, title) in (0..).zip(header) {
                sheet.set_column_width(column, 18)?;
                sheet.write_string_with_format(0, column, title, &bold)?;
            }
            (sheets, row) = (sheets + 1, 1);
        }
        let sheet = workbook.worksheet_from_index(sheets - 1)?;
        for (column, cell) in cells.into_iter().enumerate() {
            let number = NUMBER_COLUMNS
                .contains(&column)
                .then(|| cell.parse::<i64>().ok())
                .flatten();
            match number {
                Some(number) => sheet.write_number(row, column as u16, number as f64)?,
                None => sheet.write_string(row, column as u16, cell)?,
            };
        }
        row += 1;
    }
    if sheets == 0 {
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        for (column, title) in (0..).zip(header) {
            sheet.write_string_with_format(0, column, title, &bold)?;
        }
    }
    workbook.save(out)?;
    Ok(())
}
