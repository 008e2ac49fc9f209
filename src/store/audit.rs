//! The administrators' audit trail: append-only rows of administrative actions and security
//! events. Nothing updates or deletes them.

use jiff::Timestamp;

use super::{Any, new_id};
use crate::clock::to_micros;

/// One entry. `event` is a stable code (`login`, `login_failed`, `lockout`, `password_changed`,
/// `account_created`, `account_updated`, `role_changed`, `account_disabled`, `request_annulled`,
/// `holiday_added`, …); `target` names what it is about (a user id, a folio, a date); `detail` is
/// short free text for the reader. No passwords, tokens or file contents.
pub struct AuditEntry<'a> {
    pub actor_id: Option<&'a str>,
    pub event: &'a str,
    pub target: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub async fn record<'e, E>(
    executor: E,
    entry: &AuditEntry<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query("INSERT INTO audit_log (id, occurred_at, actor_id, event, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id())
        .bind(to_micros(now))
        .bind(entry.actor_id)
        .bind(entry.event)
        .bind(entry.target)
        .bind(entry.detail)
        .execute(executor)
        .await?;
    Ok(())
}
