//! Server-side sessions. The cookie holds a random token; the table holds its hash, so every
//! instance behind a load balancer sees the same sessions.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use super::{Any, Db, users};
use crate::clock::{from_micros, to_micros};
use crate::crypto::{random_token, token_hash};
use crate::store::users::User;

/// Writing `last_seen_at` on every request would turn every page view into a write; once a
/// minute is precise enough for a 30-minute idle timeout.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);

pub struct Session {
    pub token_hash: String,
    pub user: User,
}

/// Creates a session and returns the token for the cookie.
pub async fn create<'e, E>(
    executor: E,
    user_id: &str,
    now: Timestamp,
) -> Result<String, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let token = random_token();
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)")
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(to_micros(now))
        .execute(executor)
        .await?;
    Ok(token)
}

pub struct Lifetimes {
    pub idle: SignedDuration,
    pub absolute: SignedDuration,
}

/// The live session for a cookie token: not idle for too long, not older than its lifetime,
/// and its user still active. An expired session is deleted on the way.
pub async fn load(
    db: &Db,
    token: &str,
    now: Timestamp,
    limits: &Lifetimes,
) -> Result<Option<Session>, sqlx::Error> {
    let hash = token_hash(token);
    let row = sqlx::query(
        "SELECT s.created_at AS session_created_at, s.last_seen_at, u.id, u.profile, u.rut, u.email, \
         u.names, u.surnames, u.business_name, u.is_installer, u.distributor_id, \
         d.name AS distributor_name, u.regulator_role, u.status, u.password_hash, u.created_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN distributors d ON d.id = u.distributor_id WHERE s.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let created = from_micros(row.try_get("session_created_at")?);
    let last_seen = from_micros(row.try_get("last_seen_at")?);
    let user = users::from_row(&row)?;
    let expired = now.duration_since(last_seen) > limits.idle
        || now.duration_since(created) > limits.absolute;
    if expired || user.status != crate::domain::AccountStatus::Active {
        delete(db, &hash).await?;
        return Ok(None);
    }
    if now.duration_since(last_seen) > TOUCH_EVERY {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(&hash)
            .bind(to_micros(now))
            .execute(db.pool())
            .await?;
    }
    Ok(Some(Session {
        token_hash: hash,
        user,
    }))
}

pub async fn delete(db: &Db, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends every session of a user (password change or reset).
pub async fn delete_all_for_user<'e, E>(executor: E, user_id: &str) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Housekeeping: sessions past their absolute lifetime can never be used again.
pub async fn delete_older_than(db: &Db, cutoff: Timestamp) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE created_at < $1 OR last_seen_at < $1")
        .bind(to_micros(cutoff))
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
