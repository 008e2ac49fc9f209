//! Single-use links for account activation and for setting a password.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use super::{Any, Db};
use crate::clock::{from_micros, to_micros};
use crate::crypto::{random_token, token_hash};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Activation,
    Password,
}

impl Purpose {
    fn code(self) -> &'static str {
        match self {
            Purpose::Activation => "activation",
            Purpose::Password => "password",
        }
    }

    /// Activation links live two days; password links one hour, except the first one made
    /// by an administrator for a new account (see `create`'s caller).
    pub fn default_lifetime(self) -> SignedDuration {
        match self {
            Purpose::Activation => SignedDuration::from_hours(48),
            Purpose::Password => SignedDuration::from_hours(1),
        }
    }
}

/// What a link is worth when it is opened.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenState {
    Valid { user_id: String },
    Used,
    Expired,
    Unknown,
}

pub async fn create<'e, E>(
    executor: E,
    user_id: &str,
    purpose: Purpose,
    now: Timestamp,
    lifetime: SignedDuration,
) -> Result<String, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let token = random_token();
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(purpose.code())
    .bind(to_micros(now))
    .bind(to_micros(now + lifetime))
    .execute(executor)
    .await?;
    Ok(token)
}

pub async fn inspect(
    db: &Db,
    token: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<TokenState, sqlx::Error> {
    let row = sqlx::query("SELECT user_id, expires_at, used_at FROM account_tokens WHERE token_hash = $1 AND purpose = $2")
        .bind(token_hash(token))
        .bind(purpose.code())
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else {
        return Ok(TokenState::Unknown);
    };
    let used: Option<i64> = row.try_get("used_at")?;
    if used.is_some() {
        return Ok(TokenState::Used);
    }
    if from_micros(row.try_get("expires_at")?) <= now {
        return Ok(TokenState::Expired);
    }
    Ok(TokenState::Valid {
        user_id: row.try_get("user_id")?,
    })
}

/// Marks the token used if it still is valid; the conditional UPDATE makes two concurrent uses
/// of one link end in one success. Returns the user the link belongs to.
pub async fn consume(
    tx: &mut sqlx::AnyConnection,
    token: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Option<String>, sqlx::Error> {
    let hash = token_hash(token);
    let done = sqlx::query(
        "UPDATE account_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3",
    )
    .bind(&hash)
    .bind(purpose.code())
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT user_id FROM account_tokens WHERE token_hash = $1")
        .bind(&hash)
        .fetch_one(&mut *tx)
        .await?;
    Ok(Some(row.try_get("user_id")?))
}

/// A newer link replaces older unused ones of the same purpose.
pub async fn revoke_unused<'e, E>(
    executor: E,
    user_id: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query("UPDATE account_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(user_id)
        .bind(purpose.code())
        .bind(to_micros(now))
        .execute(executor)
        .await?;
    Ok(())
}
