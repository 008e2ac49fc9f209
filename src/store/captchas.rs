//! Captcha challenges: the answer is kept server-side and each challenge answers once.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use super::Db;
use crate::clock::to_micros;

const LIFETIME: SignedDuration = SignedDuration::from_mins(20);

pub async fn create(db: &Db, answer: &str, now: Timestamp) -> Result<String, sqlx::Error> {
    let id = crate::crypto::random_token();
    sqlx::query("INSERT INTO captchas (id, answer, expires_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(answer)
        .bind(to_micros(now + LIFETIME))
        .execute(db.pool())
        .await?;
    // Expired challenges are of no use to anyone; clearing them here keeps the table small
    // without a separate job.
    sqlx::query("DELETE FROM captchas WHERE expires_at < $1")
        .bind(to_micros(now))
        .execute(db.pool())
        .await?;
    Ok(id)
}

/// The answer of a live challenge, for drawing it.
pub async fn answer(db: &Db, id: &str, now: Timestamp) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT answer FROM captchas WHERE id = $1 AND expires_at > $2")
        .bind(id)
        .bind(to_micros(now))
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get("answer")).transpose()
}

/// Checks an answer and burns the challenge whatever the outcome, so one challenge can be
/// tried once: a reused or guessed-again answer fails.
pub async fn solve(db: &Db, id: &str, typed: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("DELETE FROM captchas WHERE id = $1 RETURNING answer, expires_at")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(false) };
    let answer: String = row.try_get("answer")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let typed: String = typed
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    Ok(expires_at > to_micros(now) && crate::crypto::constant_time_eq(&typed, &answer))
}
