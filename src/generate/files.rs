//! The few real files every generated attachment points at: PDFs of varied sizes, stored once
//! under `attachments/bench/<n>.pdf`. Attachment rows do not own their file (a storage key may
//! be shared), so many rows can name one file with its true size and SHA-256, and downloads work.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

/// Sizes in bytes, from a one-page scan to one just under the NC contract's 1 MB limit.
const SIZES: [usize; 16] = [
    3_100, 7_800, 14_500, 23_000, 38_000, 52_000, 71_000, 96_000, 130_000, 175_000, 240_000,
    310_000, 420_000, 560_000, 760_000, 1_000_000,
];

pub struct BenchFile {
    pub key: &'static str,
    pub size: i64,
    pub sha256: &'static str,
}

/// Writes the files (again, with the same content, when appending) and describes them. The
/// descriptions live for the whole process: every generated row borrows them.
pub async fn store(storage: &dyn ObjectStore) -> anyhow::Result<Vec<BenchFile>> {
    let mut files = Vec::with_capacity(SIZES.len());
    for (number, size) in SIZES.into_iter().enumerate() {
        let bytes = pdf(number + 1, size);
        let key = format!("attachments/bench/{}.pdf", number + 1);
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let size = i64::try_from(bytes.len())?;
        storage
            .put(&Path::parse(&key)?, PutPayload::from(bytes))
            .await?;
        files.push(BenchFile {
            key: Box::leak(key.into_boxed_str()),
            size,
            sha256: Box::leak(sha256.into_boxed_str()),
        });
    }
    Ok(files)
}

/// A valid one-page PDF that says which test document it is, padded with a comment block
/// to `size` bytes (a little more for the smallest).
pub fn pdf(number: usize, size: usize) -> Vec<u8> {
    let text = format!("BT /F1 18 Tf 72 720 Td (Documento de prueba {number}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", index + 1).as_bytes());
    }
    let trailer_size = 200 + objects.len() * 20;
    let line = b"% relleno de prueba para alcanzar el tamano de un documento escaneado\n";
    while out.len() + line.len() + trailer_size < size {
        out.extend_from_slice(line);
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::inspect::{FileKind, check_upload};

    #[test]
    fn bench_files_are_pdfs_that_fit_every_slot() {
        for (number, size) in SIZES.into_iter().enumerate() {
            let bytes = pdf(number, size);
            assert!(bytes.len() <= 1_048_576, "{}", bytes.len());
            assert!(bytes.len() + 400 >= size, "{} for {size}", bytes.len());
            assert_eq!(
                check_upload(bytes.len() as u64, &bytes, &[FileKind::Pdf], 1_048_576),
                Ok(FileKind::Pdf)
            );
        }
    }
}
