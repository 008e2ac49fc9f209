//! What an uploaded file is, decided from its bytes, and a name that is safe to show.
//!
//! PDF, JPEG and PNG are recognised by their signatures (through `infer`, tightened to the
//! signature at offset 0). DOC and DOCX are containers that may carry macros, so they are opened
//! a little further: see [`inspect`].

use std::io::{self, Cursor, Read, Write};

use zip::ZipArchive;

/// A megabyte as the manual counts it.
pub const MIB: u64 = 1_048_576;

/// More parts than any real Word document has; a zip with more is refused before reading it.
const MAX_DOCX_ENTRIES: usize = 1_000;
/// Ten times the largest upload (5 MB): text and images in a DOCX rarely compress better
/// than that, while a zip bomb inflates far beyond it.
const MAX_DOCX_UNCOMPRESSED: u64 = 50 * MIB;
/// `[Content_Types].xml` is a few kilobytes; it is the one part kept in memory.
const MAX_CONTENT_TYPES: u64 = MIB;

const OLE_SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const ZIP_SIGNATURE: [u8; 4] = *b"PK\x03\x04";
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Size of the compound-file header and of one directory entry (MS-CFB 2.2 and 2.6).
const OLE_HEADER: usize = 512;
const OLE_DIRECTORY_ENTRY: usize = 128;
const OLE_NAME_FIELD: usize = 64;
/// Storages and streams that hold VBA code in Office compound files.
const OLE_MACRO_NAMES: [&str; 4] = ["Macros", "VBA", "_VBA_PROJECT", "_VBA_PROJECT_CUR"];

/// The file types the portal accepts, as far as their content shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Pdf,
    Jpeg,
    Png,
    Doc,
    Docx,
}

impl FileKind {
    pub const ALL: [FileKind; 5] = [
        FileKind::Pdf,
        FileKind::Jpeg,
        FileKind::Png,
        FileKind::Doc,
        FileKind::Docx,
    ];

    /// The name users know the type by, as the manual lists it.
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Pdf => "PDF",
            FileKind::Jpeg => "JPG",
            FileKind::Png => "PNG",
            FileKind::Doc => "DOC",
            FileKind::Docx => "DOCX",
        }
    }

    /// The content type to serve the file with, from what was detected, never what was sent.
    pub fn mime_type(self) -> &'static str {
        match self {
            FileKind::Pdf => "application/pdf",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
            FileKind::Doc => "application/msword",
            FileKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
        }
    }

    /// The extension for a downloaded copy, matching the content.
    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Pdf => "pdf",
            FileKind::Jpeg => "jpg",
            FileKind::Png => "png",
            FileKind::Doc => "doc",
            FileKind::Docx => "docx",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("El archivo está vacío.")]
    Empty,
    #[error("El archivo debe ser del tipo {}.", kind_list(.allowed))]
    NotAllowed { allowed: Vec<FileKind> },
    #[error("El archivo supera el tamaño máximo de {}.", size_label(*.max_bytes))]
    TooLarge { max_bytes: u64 },
    #[error("El archivo DOC contiene macros y no se acepta.")]
    DocMacros,
    #[error("El archivo DOCX contiene macros y no se acepta.")]
    DocxMacros,
    #[error("El archivo DOCX es demasiado grande al descomprimirlo.")]
    DocxTooLarge,
    #[error("El archivo DOCX tiene demasiadas partes internas.")]
    DocxTooManyEntries,
    #[error("El archivo DOCX está dañado o protegido con contraseña y no se puede leer.")]
    DocxUnreadable,
}

/// How much of a file [`inspect`] needs when it is not a container: the signatures of PDF,
/// JPEG and PNG sit in the first bytes, and nothing after a valid start is examined.
pub const HEAD_LEN: usize = 8 * 1024;

/// Whether `head` (the first [`HEAD_LEN`] bytes or fewer) starts a DOC or DOCX, which
/// [`inspect`] must see whole.
pub fn needs_whole_file(head: &[u8]) -> bool {
    head.starts_with(&OLE_SIGNATURE) || head.starts_with(&ZIP_SIGNATURE)
}

/// Checks the size limit of a slot against the file's `size`, then the content with
/// [`inspect`]. `bytes` is the whole file, or its first [`HEAD_LEN`] bytes when
/// [`needs_whole_file`] says they suffice.
pub fn check_upload(
    size: u64,
    bytes: &[u8],
    allowed: &[FileKind],
    max_bytes: u64,
) -> Result<FileKind, FileError> {
    if size > max_bytes {
        return Err(FileError::TooLarge { max_bytes });
    }
    inspect(bytes, allowed)
}

/// The type of `bytes` if it is one of `allowed` and safe to pass on.
///
/// - PDF must start with `%PDF-`; `infer` would also accept the header anywhere in the first
///   kilobyte, which lets an HTML page in front of it pass as a PDF.
/// - DOC is an OLE2 compound file (`D0 CF 11 E0 A1 B1 1A E1`) with a `WordDocument` stream
///   (an Excel or installer file has the same signature) and no VBA storage; see
///   [`has_ole_entry`] for the heuristic.
/// - DOCX is opened as a zip: see [`check_docx`]. `infer` may call a valid DOCX a plain zip,
///   depending on the order of its parts, so it is not asked.
///
/// Bytes after a valid start are not examined: a PNG with HTML appended is a PNG, and is safe
/// as long as files are served with the detected type and `nosniff`.
pub fn inspect(bytes: &[u8], allowed: &[FileKind]) -> Result<FileKind, FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    let kind = detect(bytes).ok_or_else(|| not_allowed(allowed))?;
    if !allowed.contains(&kind) {
        return Err(not_allowed(allowed));
    }
    match kind {
        FileKind::Doc => check_doc(bytes, allowed)?,
        FileKind::Docx => check_docx(bytes, allowed)?,
        FileKind::Pdf | FileKind::Jpeg | FileKind::Png => {}
    }
    Ok(kind)
}

fn not_allowed(allowed: &[FileKind]) -> FileError {
    FileError::NotAllowed {
        allowed: allowed.to_vec(),
    }
}

/// The kind the first bytes claim; DOC and DOCX are confirmed by [`check_doc`] and
/// [`check_docx`].
fn detect(bytes: &[u8]) -> Option<FileKind> {
    if bytes.starts_with(&OLE_SIGNATURE) {
        return Some(FileKind::Doc);
    }
    if bytes.starts_with(&ZIP_SIGNATURE) {
        return Some(FileKind::Docx);
    }
    match infer::get(bytes)?.mime_type() {
        "application/pdf" if bytes.starts_with(b"%PDF-") => Some(FileKind::Pdf),
        "image/jpeg" => Some(FileKind::Jpeg),
        "image/png" if bytes.starts_with(&PNG_SIGNATURE) => Some(FileKind::Png),
        _ => None,
    }
}

/// A compound file is a DOC when it has a Word stream, and acceptable without VBA storages.
fn check_doc(bytes: &[u8], allowed: &[FileKind]) -> Result<(), FileError> {
    if !has_ole_entry(bytes, &["WordDocument"]) {
        return Err(not_allowed(allowed));
    }
    if has_ole_entry(bytes, &OLE_MACRO_NAMES) {
        return Err(FileError::DocMacros);
    }
    Ok(())
}

/// Whether a directory entry of the compound file is named one of `names` (ASCII case
/// ignored, as the format compares names).
///
/// This is a heuristic, not a parser: directory entries live in sectors, which start after
/// the 512-byte header at multiples of 512 (or 4096) bytes, so every entry starts at a multiple
/// of 128 bytes of the file and begins with its name in UTF-16LE, ended by a NUL. Only those
/// positions are compared, so the word "Macros" typed in the document text does not trigger a
/// refusal. A file whose directory sits elsewhere is not readable by Word either.
fn has_ole_entry(bytes: &[u8], names: &[&str]) -> bool {
    bytes
        .chunks_exact(OLE_DIRECTORY_ENTRY)
        .skip(OLE_HEADER / OLE_DIRECTORY_ENTRY)
        .any(|entry| names.iter().any(|name| entry_is_named(entry, name)))
}

fn entry_is_named(entry: &[u8], name: &str) -> bool {
    let mut units = entry[..OLE_NAME_FIELD]
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    let same = |unit: u16, expected: u16| match (u8::try_from(unit), u8::try_from(expected)) {
        (Ok(unit), Ok(expected)) => unit.eq_ignore_ascii_case(&expected),
        _ => unit == expected,
    };
    name.encode_utf16()
        .all(|expected| units.next().is_some_and(|unit| same(unit, expected)))
        && units.next() == Some(0)
}

/// A zip is a DOCX when it has the content types and a Word main part; it is acceptable when
/// it can be read, stays small once inflated and carries no macros.
///
/// Every part is inflated, within [`MAX_DOCX_UNCOMPRESSED`] in total, because the sizes in
/// the zip headers are the uploader's word. A macro shows as a `vbaProject.bin` part (any
/// folder) or as a macro-enabled content type (a `.docm` renamed `.docx`). An archive that
/// names a part twice is refused: readers disagree on which copy counts.
fn check_docx(bytes: &[u8], allowed: &[FileKind]) -> Result<(), FileError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|_| FileError::DocxUnreadable)?;
    if archive.has_duplicate_names() {
        return Err(FileError::DocxUnreadable);
    }
    if archive.len() > MAX_DOCX_ENTRIES {
        return Err(FileError::DocxTooManyEntries);
    }
    let has = |part: &str| {
        archive
            .file_names_raw()
            .any(|name| name.eq_ignore_ascii_case(part.as_bytes()))
    };
    if !has("[Content_Types].xml") || !has("word/document.xml") {
        return Err(not_allowed(allowed));
    }
    let vba = archive
        .file_names_raw()
        .any(|name| name.to_ascii_lowercase().ends_with(b"vbaproject.bin"));
    if vba {
        return Err(FileError::DocxMacros);
    }
    inflate_all(&mut archive)
}

/// Inflates every part within the total budget, and looks at the declared content types.
fn inflate_all(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Result<(), FileError> {
    let mut budget = MAX_DOCX_UNCOMPRESSED;
    for index in 0..archive.len() {
        let mut part = archive
            .by_index(index)
            .map_err(|_| FileError::DocxUnreadable)?;
        if part.name_raw().eq_ignore_ascii_case(b"[Content_Types].xml") {
            let mut content_types = Vec::new();
            budget -= read_within(&mut part, budget.min(MAX_CONTENT_TYPES), &mut content_types)?;
            if declares_macros(&content_types) {
                return Err(FileError::DocxMacros);
            }
        } else {
            budget -= read_within(&mut part, budget, &mut io::sink())?;
        }
    }
    Ok(())
}

/// Copies at most `limit` bytes; more is an error, as is a damaged or encrypted part.
fn read_within(part: &mut impl Read, limit: u64, out: &mut impl Write) -> Result<u64, FileError> {
    let copied = io::copy(&mut part.take(limit + 1), out).map_err(|_| FileError::DocxUnreadable)?;
    if copied > limit {
        return Err(FileError::DocxTooLarge);
    }
    Ok(copied)
}

/// Macro-enabled documents and templates declare `...macroEnabled...` main parts, and their
/// code as `application/vnd.ms-office.vbaProject`.
fn declares_macros(content_types: &[u8]) -> bool {
    let lower = content_types.to_ascii_lowercase();
    let contains = |needle: &[u8]| lower.windows(needle.len()).any(|window| window == needle);
    contains(b"macroenabled") || contains(b"vbaproject")
}

/// "PDF, JPG, PNG, DOC o DOCX".
fn kind_list(kinds: &[FileKind]) -> String {
    let labels: Vec<&str> = kinds.iter().map(|kind| kind.label()).collect();
    match labels.split_last() {
        None => "permitido".to_string(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} o {last}", rest.join(", ")),
    }
}

/// "5 MB", "1 MB", "512 KB".
fn size_label(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

const MAX_DISPLAY_NAME: usize = 120;

/// The name to show for an uploaded file: its last path component (browsers on Windows may
/// send `C:\...\name.pdf`), without control characters or bidirectional overrides (which make
/// `evil\u{202E}fdp.exe` read as `evilexe.pdf`), at most 120 characters, `archivo` when nothing
/// is left. It is display text only, escaped by the templates: files are stored under
/// generated keys and never under this name.
pub fn safe_display_name(original: &str) -> String {
    let last = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .take(MAX_DISPLAY_NAME)
        .collect();
    match cleaned.trim() {
        "" | "." | ".." => "archivo".to_string(),
        name => name.to_string(),
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    const PDF: &[u8] = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89,
    ];
    const JPEG: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xDB,
    ];
    const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xFF\xFF\x00\x00\
        This program cannot be run in DOS mode.\r\r\n$";
    const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00";

    const CONTENT_TYPES: &str = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#,
        r#"<Default Extension="rels" "#,
        r#"ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#,
        r#"<Default Extension="xml" ContentType="application/xml"/>"#,
        r#"<Override PartName="/word/document.xml" ContentType="application/"#,
        r#"vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>"#,
        "</Types>",
    );
    const DOCM_CONTENT_TYPES: &str = concat!(
        r#"<Types><Override PartName="/word/document.xml" "#,
        r#"ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>"#,
    );
    const DOCUMENT: &str = concat!(
        r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">"#,
        "<w:body><w:p><w:r><w:t>Hola</w:t></w:r></w:p></w:body></w:document>",
    );

    fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
        zip_with(parts, SimpleFileOptions::default())
    }

    fn zip_with(parts: &[(&str, &[u8])], options: SimpleFileOptions) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in parts {
            writer.start_file(*name, options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn docx_with(extra: &[(&str, &[u8])]) -> Vec<u8> {
        let mut parts: Vec<(&str, &[u8])> = vec![
            ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
            ("_rels/.rels", b"<Relationships/>"),
            ("word/document.xml", DOCUMENT.as_bytes()),
        ];
        parts.extend_from_slice(extra);
        zip_of(&parts)
    }

    /// A compound file: the header sector, then one directory sector with the given entries.
    fn ole_with(entries: &[&str]) -> Vec<u8> {
        let mut bytes = OLE_SIGNATURE.to_vec();
        bytes.resize(OLE_HEADER, 0);
        for name in entries {
            let mut entry: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
            entry.resize(OLE_DIRECTORY_ENTRY, 0);
            bytes.extend_from_slice(&entry);
        }
        bytes.resize(OLE_HEADER * 2, 0);
        bytes
    }

    fn all() -> &'static [FileKind] {
        &FileKind::ALL
    }

    #[test]
    fn recognises_the_accepted_types_by_content() {
        let doc = ole_with(&["Root Entry", "WordDocument", "1Table"]);
        let docx = docx_with(&[]);
        let mut png_with_html = PNG.to_vec();
        png_with_html.extend_from_slice(b"<html><script>alert(1)</script></html>");
        let cases: [(&[u8], FileKind); 6] = [
            (PDF, FileKind::Pdf),
            (PNG, FileKind::Png),
            (JPEG, FileKind::Jpeg),
            (&doc, FileKind::Doc),
            (&docx, FileKind::Docx),
            (&png_with_html, FileKind::Png),
        ];
        for (bytes, expected) in cases {
            assert_eq!(inspect(bytes, all()), Ok(expected), "{expected:?}");
        }
    }

    #[test]
    fn refuses_other_content_whatever_its_name() {
        let refused = not_allowed(all());
        let html_then_pdf = [b"<html><script>x</script></html>\n".as_slice(), PDF].concat();
        let plain_zip = zip_of(&[("readme.txt", b"hola")]);
        let xlsx_like = zip_of(&[
            ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
            ("xl/workbook.xml", b"<workbook/>"),
        ]);
        let excel = ole_with(&["Root Entry", "Workbook"]);
        let cases: [(&str, &[u8], FileError); 9] = [
            ("empty", b"", FileError::Empty),
            ("exe renamed .pdf", EXE, refused.clone()),
            ("gif", GIF, refused.clone()),
            ("text", b"hola, esto es texto", refused.clone()),
            (
                "html before the pdf header",
                &html_then_pdf,
                refused.clone(),
            ),
            ("png signature cut short", &PNG[..4], refused.clone()),
            ("plain zip", &plain_zip, refused.clone()),
            ("spreadsheet zip", &xlsx_like, refused.clone()),
            ("excel compound file", &excel, refused.clone()),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(inspect(bytes, all()), Err(expected), "{name}");
        }
    }

    #[test]
    fn a_slot_accepts_only_its_kinds() {
        let pdf_only = [FileKind::Pdf];
        assert_eq!(inspect(PDF, &pdf_only), Ok(FileKind::Pdf));
        let docx = docx_with(&[]);
        for bytes in [PNG, JPEG, docx.as_slice()] {
            let error = inspect(bytes, &pdf_only).unwrap_err();
            assert_eq!(error.to_string(), "El archivo debe ser del tipo PDF.");
        }
    }

    #[test]
    fn refuses_doc_with_vba_storages() {
        let cases = [
            (vec!["Root Entry", "WordDocument", "1Table", "Macros"], true),
            (vec!["Root Entry", "WordDocument", "_VBA_PROJECT"], true),
            (vec!["Root Entry", "WordDocument", "MACROS"], true),
            (vec!["Root Entry", "Macros", "VBA", "WordDocument"], true),
            (vec!["Root Entry", "WordDocument", "MacrosX"], false),
            (vec!["Root Entry", "WordDocument", "Data"], false),
        ];
        for (entries, has_macros) in cases {
            let expected = if has_macros {
                Err(FileError::DocMacros)
            } else {
                Ok(FileKind::Doc)
            };
            assert_eq!(inspect(&ole_with(&entries), all()), expected, "{entries:?}");
        }
    }

    #[test]
    fn the_word_macros_in_the_text_of_a_doc_is_not_a_macro() {
        let mut doc = ole_with(&["Root Entry", "WordDocument"]);
        // Document text in UTF-16LE, not on a directory-entry boundary.
        doc.extend_from_slice(b"\0\0\0");
        doc.extend(
            "Macros\0 de Excel"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        );
        assert_eq!(inspect(&doc, all()), Ok(FileKind::Doc));
    }

    #[test]
    fn refuses_docx_with_macros() {
        let docm = zip_of(&[
            ("[Content_Types].xml", DOCM_CONTENT_TYPES.as_bytes()),
            ("word/document.xml", DOCUMENT.as_bytes()),
        ]);
        let cases = [
            docx_with(&[("word/vbaProject.bin", b"\xD0\xCF\x11\xE0")]),
            docx_with(&[("WORD/VBAPROJECT.BIN", b"x")]),
            docx_with(&[("customXml/vbaProject.bin", b"x")]),
            docm,
        ];
        for (index, bytes) in cases.iter().enumerate() {
            assert_eq!(
                inspect(bytes, all()),
                Err(FileError::DocxMacros),
                "case {index}"
            );
        }
    }

    #[test]
    fn refuses_docx_that_inflates_beyond_the_limit() {
        let zeros = vec![0u8; 60 * MIB as usize];
        let bomb = docx_with(&[("word/media/image1.png", &zeros)]);
        assert!(bomb.len() < 200_000, "compressed to {} bytes", bomb.len());
        assert_eq!(inspect(&bomb, all()), Err(FileError::DocxTooLarge));
        // Under the limit in each part, over it together.
        let half = vec![0u8; 26 * MIB as usize];
        let split = docx_with(&[("word/media/a.png", &half), ("word/media/b.png", &half)]);
        assert_eq!(inspect(&split, all()), Err(FileError::DocxTooLarge));
    }

    #[test]
    fn refuses_docx_with_too_many_parts_or_damage() {
        let names: Vec<String> = (0..MAX_DOCX_ENTRIES)
            .map(|i| format!("word/p{i}.xml"))
            .collect();
        let extra: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let crowded = docx_with(&extra);
        assert_eq!(inspect(&crowded, all()), Err(FileError::DocxTooManyEntries));

        let valid = docx_with(&[]);
        let truncated = &valid[..valid.len() / 2];
        assert_eq!(inspect(truncated, all()), Err(FileError::DocxUnreadable));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        let mut corrupted = zip_with(
            &[
                ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
                ("word/document.xml", DOCUMENT.as_bytes()),
            ],
            stored,
        );
        let body = corrupted.windows(4).position(|w| w == b"Hola").unwrap();
        corrupted[body] = b'X';
        assert_eq!(inspect(&corrupted, all()), Err(FileError::DocxUnreadable));
    }

    #[test]
    fn size_limit_comes_before_content() {
        let five = 5 * MIB;
        assert_eq!(
            check_upload(PDF.len() as u64, PDF, all(), five),
            Ok(FileKind::Pdf)
        );
        // The size counts, not the bytes shown: a PDF's head alone stands for all of it.
        let error = check_upload(MIB + 1, PDF, &[FileKind::Pdf], MIB).unwrap_err();
        assert_eq!(error, FileError::TooLarge { max_bytes: MIB });
        assert_eq!(
            check_upload(MIB, PDF, &[FileKind::Pdf], MIB),
            Ok(FileKind::Pdf)
        );
    }

    #[test]
    fn containers_are_read_whole_and_the_rest_by_their_head() {
        assert!(needs_whole_file(&docx_with(&[])));
        assert!(needs_whole_file(&OLE_SIGNATURE));
        assert!(!needs_whole_file(PDF));
        assert!(!needs_whole_file(&PNG_SIGNATURE));
        assert!(!needs_whole_file(b""));
        // A head of a PDF is judged as the whole file is.
        let long = [PDF, &vec![b' '; 3 * HEAD_LEN]].concat();
        assert_eq!(inspect(&long[..HEAD_LEN], all()), inspect(&long, all()));
    }

    #[test]
    fn messages_name_the_types_and_the_limit() {
        let message_for = |allowed: &[FileKind]| not_allowed(allowed).to_string();
        let cases = [
            (
                message_for(all()),
                "El archivo debe ser del tipo PDF, JPG, PNG, DOC o DOCX.",
            ),
            (
                message_for(&[FileKind::Pdf]),
                "El archivo debe ser del tipo PDF.",
            ),
            (
                message_for(&[FileKind::Pdf, FileKind::Png]),
                "El archivo debe ser del tipo PDF o PNG.",
            ),
            (
                FileError::TooLarge { max_bytes: 5 * MIB }.to_string(),
                "El archivo supera el tamaño máximo de 5 MB.",
            ),
            (
                FileError::TooLarge { max_bytes: MIB }.to_string(),
                "El archivo supera el tamaño máximo de 1 MB.",
            ),
            (
                FileError::TooLarge {
                    max_bytes: 512 * 1024,
                }
                .to_string(),
                "El archivo supera el tamaño máximo de 512 KB.",
            ),
            (FileError::Empty.to_string(), "El archivo está vacío."),
        ];
        for (message, expected) in cases {
            assert_eq!(message, expected);
        }
    }

    #[test]
    fn display_names_are_tamed() {
        let long = "a".repeat(300);
        let cases = [
            ("informe.pdf", "informe.pdf"),
            ("../../etc/passwd", "passwd"),
            ("C:\\x\\evil.pdf", "evil.pdf"),
            ("a\u{0}b\r\n.pdf", "ab.pdf"),
            ("<script>.pdf", "<script>.pdf"),
            ("evil\u{202E}fdp.exe", "evilfdp.exe"),
            ("  Cédula ñandú.jpg ", "Cédula ñandú.jpg"),
            ("", "archivo"),
            ("carpeta/", "archivo"),
            ("..", "archivo"),
            ("\u{7}\u{1b}", "archivo"),
        ];
        for (original, expected) in cases {
            assert_eq!(safe_display_name(original), expected, "{original:?}");
        }
        assert_eq!(safe_display_name(&long).chars().count(), MAX_DISPLAY_NAME);
        assert_eq!(safe_display_name(&"ñ".repeat(200)), "ñ".repeat(120));
    }

    #[test]
    fn kinds_have_labels_types_and_extensions() {
        let labels: Vec<&str> = FileKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels, ["PDF", "JPG", "PNG", "DOC", "DOCX"]);
        assert_eq!(FileKind::Jpeg.extension(), "jpg");
        assert_eq!(FileKind::Pdf.mime_type(), "application/pdf");
    }
}
