//! The e-mail outbox. An e-mail is a row written in the same transaction as whatever caused it;
//! the worker in `mail::outbox` sends it after commit. The row id makes the Message-ID, so a
//! rare resend after a crash is recognisable as the same message.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use super::{Any, Db};
use crate::clock::to_micros;

/// A rendered e-mail ready to be queued.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone, Debug)]
pub struct QueuedEmail {
    pub id: String,
    pub message_id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

pub async fn enqueue<'e, E>(
    executor: E,
    email: &OutgoingEmail,
    message_domain: &str,
    now: Timestamp,
) -> Result<String, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let id = super::new_id();
    sqlx::query(
        "INSERT INTO outbox (id, message_id, recipient, subject, body, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6)",
    )
    .bind(&id)
    .bind(format!("<{id}@{message_domain}>"))
    .bind(&email.to)
    .bind(&email.subject)
    .bind(&email.body)
    .bind(to_micros(now))
    .execute(executor)
    .await?;
    Ok(id)
}

/// Ids of e-mails due for a (new) attempt and not held by another worker.
pub async fn due(db: &Db, now: Timestamp, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until <= $1) ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(to_micros(now))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|row| row.try_get("id")).collect()
}

/// Takes the e-mail for one worker for `hold`; another instance's worker skips it meanwhile.
/// Returns None when someone else took it first or it is no longer queued.
pub async fn claim(
    db: &Db,
    id: &str,
    now: Timestamp,
    hold: SignedDuration,
) -> Result<Option<QueuedEmail>, sqlx::Error> {
    let taken = sqlx::query(
        "UPDATE outbox SET locked_until = $2 WHERE id = $1 AND status = 'queued' \
         AND (locked_until IS NULL OR locked_until <= $3)",
    )
    .bind(id)
    .bind(to_micros(now + hold))
    .bind(to_micros(now))
    .execute(db.pool())
    .await?;
    if taken.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, message_id, recipient, subject, body, attempts FROM outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?;
    Ok(Some(QueuedEmail {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        attempts: row.try_get("attempts")?,
    }))
}

pub async fn mark_sent(db: &Db, id: &str, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1, locked_until = NULL, last_error = NULL WHERE id = $1")
        .bind(id)
        .bind(to_micros(now))
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn mark_retry(
    db: &Db,
    id: &str,
    next_attempt: Timestamp,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1")
        .bind(id)
        .bind(to_micros(next_attempt))
        .bind(error)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn mark_failed(db: &Db, id: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET status = 'failed', attempts = attempts + 1, locked_until = NULL, last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db.pool())
        .await?;
    Ok(())
}
