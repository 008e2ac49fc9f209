//! The baseline of the Sábana benchmark: rust_xlsxwriter alone, writing as many rows of the
//! Sábana's shape (23 columns, text and numbers of similar lengths, a sheet per 1,048,575 rows,
//! constant-memory sheets) as the portal's export, with no database and no web server.
//!
//!     cargo run --release --example bare_xlsx -- ROWS OUT.xlsx

use rust_xlsxwriter::{Format, Workbook};

const COLUMNS: u16 = 23;
const LAST_ROW: u32 = 1_048_575;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().ok_or("ROWS")?.parse()?;
    let out = args.next().ok_or("OUT.xlsx")?;
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let mut row = LAST_ROW + 1;
    let mut sheets = 0;
    for n in 0..rows {
        if row > LAST_ROW {
            let sheet = workbook.add_worksheet_with_constant_memory()?;
            sheet.set_name(format!("Solicitudes {}", sheets + 1))?;
            sheet.set_freeze_panes(1, 0)?;
            for column in 0..COLUMNS {
                sheet.set_column_width(column, 18)?;
                sheet.write_string_with_format(0, column, format!("Columna {column}"), &bold)?;
            }
            sheets += 1;
            row = 1;
        }
        let sheet = workbook.worksheet_from_index(sheets - 1)?;
        for column in 0..COLUMNS {
            match column {
                19 | 21 => sheet.write_number(row, column, (n % 37) as f64)?,
                0 => sheet.write_string(row, column, format!("EN{n}"))?,
                16..=18 => sheet.write_string(row, column, "03/12/2026 14:05")?,
                9 => sheet.write_string(row, column, "María José Pérez Soto")?,
                _ => sheet.write_string(row, column, "Solicitud de Información")?,
            };
        }
        row += 1;
    }
    workbook.save(out)?;
    Ok(())
}
