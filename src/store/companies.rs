//! What each distribuidora keeps for itself: its settings (bank data and payment instructions
//! shown to applicants who pay), its standard answers ("Respondido Automático"), and the lookups
//! of its "Comunicación" to an applicant. The company's id always comes from the caller: the
//! user's account on the company's own pages, the request on an applicant's; never a form.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use crate::clock::to_micros;
use crate::domain::request::{RequestKind, Status};

/// The prefix of every standard answer's storage key.
pub const STANDARD_ANSWERS_PREFIX: &str = "standard-answers";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompanySettings {
    /// Bank, account type, account number, RUT and e-mail for transfers.
    pub bank_details: String,
    pub payment_instructions: String,
}

/// The file with which a company answers new requests of one kind at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandardAnswer {
    pub storage_key: String,
    pub file_name: String,
    pub file_kind: String,
    pub size_bytes: i64,
    pub sha256: String,
}

/// The company's settings; empty texts until it saves some.
pub async fn settings(db: &Db, distributor_id: &str) -> Result<CompanySettings, sqlx::Error> {
    let row = sqlx::query(
        "SELECT bank_details, payment_instructions FROM distributor_settings \
         WHERE distributor_id = $1",
    )
    .bind(distributor_id)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => Ok(CompanySettings {
            bank_details: row.try_get("bank_details")?,
            payment_instructions: row.try_get("payment_instructions")?,
        }),
        None => Ok(CompanySettings::default()),
    }
}

pub async fn save_settings(
    db: &Db,
    distributor_id: &str,
    settings: &CompanySettings,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO distributor_settings \
         (distributor_id, bank_details, payment_instructions, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (distributor_id) DO UPDATE SET \
         bank_details = excluded.bank_details, \
         payment_instructions = excluded.payment_instructions, updated_at = excluded.updated_at",
    )
    .bind(distributor_id)
    .bind(&settings.bank_details)
    .bind(&settings.payment_instructions)
    .bind(to_micros(now))
    .execute(db.pool())
    .await?;
    Ok(())
}

fn answer_from_row(row: &AnyRow) -> Result<StandardAnswer, sqlx::Error> {
    Ok(StandardAnswer {
        storage_key: row.try_get("storage_key")?,
        file_name: row.try_get("file_name")?,
        file_kind: row.try_get("file_kind")?,
        size_bytes: row.try_get("size_bytes")?,
        sha256: row.try_get("sha256")?,
    })
}

const ANSWER_COLUMNS: &str = "kind, storage_key, file_name, file_kind, size_bytes, sha256";

/// The file with which the company answers new requests of this kind at once, if any.
pub async fn standard_answer(
    db: &Db,
    distributor_id: &str,
    kind: RequestKind,
) -> Result<Option<StandardAnswer>, sqlx::Error> {
    let sql = format!(
        "SELECT {ANSWER_COLUMNS} FROM standard_answers WHERE distributor_id = $1 AND kind = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(distributor_id)
        .bind(kind.code())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(answer_from_row)
        .transpose()
}

/// Every standard answer of the company, in the legal order of the kinds (SI, SC, MC, NC).
pub async fn standard_answers(
    db: &Db,
    distributor_id: &str,
) -> Result<Vec<(RequestKind, StandardAnswer)>, sqlx::Error> {
    let sql = format!("SELECT {ANSWER_COLUMNS} FROM standard_answers WHERE distributor_id = $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(distributor_id)
        .fetch_all(db.pool())
        .await?;
    let mut answers = Vec::with_capacity(rows.len());
    for row in &rows {
        let code: String = row.try_get("kind")?;
        // The CHECK constraint allows only the four codes; anything else is skipped, not fatal.
        if let Some(kind) = RequestKind::from_code(&code) {
            answers.push((kind, answer_from_row(row)?));
        }
    }
    answers.sort_by_key(|(kind, _)| RequestKind::ALL.iter().position(|k| k == kind));
    Ok(answers)
}

/// Publishes (or replaces) the company's standard answer for a kind. Returns the storage key
/// of the file it replaced, for the caller to delete once this has committed: requests
/// answered with the old file have their own copy.
pub async fn set_standard_answer(
    db: &Db,
    distributor_id: &str,
    kind: RequestKind,
    answer: &StandardAnswer,
    now: Timestamp,
) -> Result<Option<String>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let replaced: Option<String> = sqlx::query_scalar(
        "SELECT storage_key FROM standard_answers WHERE distributor_id = $1 AND kind = $2",
    )
    .bind(distributor_id)
    .bind(kind.code())
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO standard_answers (distributor_id, kind, storage_key, file_name, file_kind, \
         size_bytes, sha256, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (distributor_id, kind) DO UPDATE SET storage_key = excluded.storage_key, \
         file_name = excluded.file_name, file_kind = excluded.file_kind, \
         size_bytes = excluded.size_bytes, sha256 = excluded.sha256, \
         updated_at = excluded.updated_at",
    )
    .bind(distributor_id)
    .bind(kind.code())
    .bind(&answer.storage_key)
    .bind(&answer.file_name)
    .bind(&answer.file_kind)
    .bind(answer.size_bytes)
    .bind(&answer.sha256)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(replaced.filter(|key| *key != answer.storage_key))
}

/// Stops answering new requests of this kind automatically. Returns the storage key of the
/// removed file (None when there was none), for the caller to delete.
pub async fn remove_standard_answer(
    db: &Db,
    distributor_id: &str,
    kind: RequestKind,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM standard_answers WHERE distributor_id = $1 AND kind = $2 \
         RETURNING storage_key",
    )
    .bind(distributor_id)
    .bind(kind.code())
    .fetch_optional(db.pool())
    .await
}

/// The id of the company's request with this folio, typed in any case.
pub async fn request_by_folio(
    db: &Db,
    distributor_id: &str,
    folio: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT id FROM requests WHERE distributor_id = $1 AND folio = $2")
        .bind(distributor_id)
        .bind(folio.trim().to_ascii_uppercase())
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get("id")).transpose()
}

/// The request's status, with its row locked until the transaction ends, so that a
/// concurrent transition (an annulment) is either seen here or waits for this transaction.
/// The no-op UPDATE is the portable way to take that lock on SQLite and PostgreSQL alike.
pub async fn lock_status(
    tx: &mut sqlx::AnyConnection,
    request_id: &str,
) -> Result<Option<Status>, sqlx::Error> {
    let row = sqlx::query("UPDATE requests SET status = status WHERE id = $1 RETURNING status")
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let code: String = row.try_get("status")?;
    Ok(Status::from_code(&code))
}
