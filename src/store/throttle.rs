//! Failed-login counting per account and per client address, kept in the database so that
//! every instance counts together. A key that reaches its limit is refused until its window
//! has passed; then the right password works again (no permanent lock-out of a victim).

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use super::Db;
use crate::clock::{from_micros, to_micros};

#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub failures: i64,
    pub window: SignedDuration,
}

pub const PER_ACCOUNT: Limit = Limit {
    failures: 5,
    window: SignedDuration::from_mins(15),
};
pub const PER_ADDRESS: Limit = Limit {
    failures: 30,
    window: SignedDuration::from_mins(15),
};

/// When the key is refused, until what time.
pub async fn blocked_until(
    db: &Db,
    key: &str,
    limit: Limit,
    now: Timestamp,
) -> Result<Option<Timestamp>, sqlx::Error> {
    let row = sqlx::query("SELECT failures, window_started_at FROM login_throttle WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let failures: i64 = row.try_get("failures")?;
    let ends = from_micros(row.try_get("window_started_at")?) + limit.window;
    Ok((failures >= limit.failures && ends > now).then_some(ends))
}

pub async fn record_failure(
    db: &Db,
    key: &str,
    limit: Limit,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let now_micros = to_micros(now);
    let window_start_cutoff = to_micros(now - limit.window);
    // One statement, so concurrent failures on several instances all count: a stale window
    // restarts at one, a live one adds one.
    sqlx::query(
        "INSERT INTO login_throttle (key, failures, window_started_at) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN login_throttle.window_started_at <= $3 THEN 1 ELSE login_throttle.failures + 1 END, \
         window_started_at = CASE WHEN login_throttle.window_started_at <= $3 THEN $2 ELSE login_throttle.window_started_at END",
    )
    .bind(key)
    .bind(now_micros)
    .bind(window_start_cutoff)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn clear(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(())
}
