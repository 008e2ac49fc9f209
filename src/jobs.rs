//! Periodic housekeeping, safe to run on every instance at once (each step is idempotent).

use std::collections::HashSet;

use jiff::{SignedDuration, ToSpan};
use sqlx::Row;

use crate::clock::chile;
use crate::web::AppState;

/// A file is collected only when it is older than this: a submission still in flight has
/// stored its files but not yet committed its rows.
const ORPHAN_GRACE: SignedDuration = SignedDuration::from_hours(1);

/// Deletes stored attachment files that have no row: what a crash between storing a
/// submission's files and committing it leaves behind. Looks at this month's and last month's
/// folders (keys are `attachments/YYYY/MM/…`), which is where such files can be.
pub async fn collect_orphan_files(state: &AppState) -> anyhow::Result<Vec<String>> {
    let now = state.now();
    let today = now.to_zoned_datetime(chile()).date();
    let last_month = today.checked_sub(1.month())?;
    let mut deleted = Vec::new();
    for month in [today, last_month] {
        let prefix = format!("attachments/{}", month.strftime("%Y/%m"));
        let rows = sqlx::query("SELECT storage_key FROM attachments WHERE storage_key LIKE $1")
            .bind(format!("{prefix}/%"))
            .fetch_all(state.db.pool())
            .await?;
        let known: HashSet<String> = rows
            .iter()
            .filter_map(|r| r.try_get("storage_key").ok())
            .collect();
        let removed = state
            .files
            .collect_orphans(&prefix, now - ORPHAN_GRACE, |key| known.contains(key))
            .await?;
        for key in &removed {
            tracing::info!(storage.key = %key, "deleted a stored file that no request refers to");
        }
        deleted.extend(removed);
    }
    Ok(deleted)
}

/// Runs the housekeeping every hour until the process ends.
pub async fn run(state: AppState) {
    loop {
        if let Err(error) = collect_orphan_files(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "collecting orphan files failed"
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}
