//! Periodic housekeeping, safe to run on every instance at once: each step is idempotent, or
//! claims its day in `job_runs` so that exactly one instance does it.

use std::collections::HashSet;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use sqlx::{AssertSqlSafe, Row};

use crate::clock::{chile, to_micros};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::request::RequestKind;
use crate::mail::templates::{self, OVERDUE_DIGEST_KEY, REMINDER_KEY};
use crate::store::deadlines::OPEN_STATUSES;
use crate::store::{outbox, requests};
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

/// Runs the housekeeping every hour until the process ends. The daily and weekly e-mails are
/// tried every hour too: the first instance to run after their hour on the right day sends
/// them, and every other attempt that day finds the day claimed.
pub async fn run(state: AppState) {
    loop {
        if let Err(error) = collect_orphan_files(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "collecting orphan files failed"
            );
        }
        if let Err(error) = send_daily_reminders(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "sending deadline reminders failed"
            );
        }
        if let Err(error) = send_weekly_digest(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "sending the overdue digest failed"
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

// ---- Deadline e-mails ----

const REMINDER_JOB: &str = "distributor_reminders";
const DIGEST_JOB: &str = "regulator_digest";
/// E-mails about deadlines leave in office hours (Chile time), not at the loop's first tick
/// after midnight.
const SEND_FROM_HOUR: i8 = 8;
/// A company hears of a request this many business days before its due date.
const REMINDER_DAYS: u32 = 2;
/// Requests listed per company in one e-mail; the portal's inbox has the rest.
const MAX_LISTED: usize = 100;

/// Today's Chile date and the calendar, when deadline e-mails may leave now: a business day
/// (never a weekend or a holiday), from [`SEND_FROM_HOUR`].
async fn sending_day(state: &AppState) -> anyhow::Result<Option<(Date, BusinessCalendar)>> {
    let local = state.now().to_zoned_datetime(chile());
    let calendar = BusinessCalendar::new(requests::holidays(state.db.pool()).await?);
    let today = local.date();
    let open = calendar.is_business_day(today) && local.hour() >= SEND_FROM_HOUR;
    Ok(open.then_some((today, calendar)))
}

/// Inserts the job's row for `run_on`; false when it exists (another instance, or an earlier
/// run, did the job). In the job's transaction: a run that fails leaves the day unclaimed,
/// and the next hourly attempt tries again. On PostgreSQL a concurrent claim waits for the
/// first transaction to end, then does nothing; on SQLite the write lock orders them.
async fn claim(
    tx: &mut sqlx::AnyConnection,
    job: &str,
    run_on: Date,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO job_runs (job, run_on, started_at) VALUES ($1, $2, $3) \
         ON CONFLICT (job, run_on) DO NOTHING",
    )
    .bind(job)
    .bind(run_on.to_string())
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A request the company still has to answer, with its due date.
struct DueRequest {
    distributor_id: String,
    distributor_name: String,
    folio: String,
    kind: RequestKind,
    due_on: Date,
}

/// Requests still waiting on the company's answer (open, clock running, not answered nor
/// payment-requested) that are due on `until` or earlier, by company and due date.
async fn due_requests(
    tx: &mut sqlx::AnyConnection,
    until: Date,
) -> Result<Vec<DueRequest>, sqlx::Error> {
    let waiting: Vec<String> = OPEN_STATUSES
        .iter()
        .filter(|s| !s.clock_paused())
        .map(|s| format!("'{}'", s.code()))
        .collect();
    // ISO dates compare as text, so the date filter runs in the database on both backends.
    let sql = format!(
        "SELECT r.folio, r.kind, r.due_on, r.distributor_id, d.name FROM requests r \
         JOIN distributors d ON d.id = r.distributor_id WHERE r.status IN ({}) \
         AND r.answered_at IS NULL AND r.due_on IS NOT NULL AND r.due_on <= $1 \
         ORDER BY d.name, r.distributor_id, r.due_on, r.folio_number",
        waiting.join(", ")
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(until.to_string())
        .fetch_all(&mut *tx)
        .await?;
    let mut due = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: String = row.try_get("kind")?;
        let day: String = row.try_get("due_on")?;
        let (Some(kind), Ok(due_on)) = (RequestKind::from_code(&kind), day.parse()) else {
            continue;
        };
        due.push(DueRequest {
            distributor_id: row.try_get("distributor_id")?,
            distributor_name: row.try_get("name")?,
            folio: row.try_get("folio")?,
            kind,
            due_on,
        });
    }
    Ok(due)
}

/// The rows split per company, keeping their order.
fn per_company(due: Vec<DueRequest>) -> Vec<Vec<DueRequest>> {
    let mut groups: Vec<Vec<DueRequest>> = Vec::new();
    for request in due {
        match groups.last_mut() {
            Some(group) if group[0].distributor_id == request.distributor_id => group.push(request),
            _ => groups.push(vec![request]),
        }
    }
    groups
}

/// Business days `d` with `from < d <= to`.
fn business_days_after(calendar: &BusinessCalendar, from: Date, to: Date) -> usize {
    from.series(1.day())
        .skip(1)
        .take_while(|day| *day <= to)
        .filter(|day| calendar.is_business_day(*day))
        .count()
}

fn days(n: usize) -> String {
    if n == 1 {
        "1 día hábil".to_string()
    } else {
        format!("{n} días hábiles")
    }
}

/// "vence hoy", "vence en 2 días hábiles", "vencida hace 3 días hábiles". The first day after
/// the due date always counts, as in the inbox, so a deadline missed on a Friday never reads
/// "hace 0 días".
fn due_text(calendar: &BusinessCalendar, today: Date, due: Date) -> String {
    if due == today {
        "vence hoy".to_string()
    } else if due > today {
        format!(
            "vence en {}",
            days(business_days_after(calendar, today, due))
        )
    } else {
        format!(
            "vencida hace {}",
            days(business_days_after(calendar, due, today).max(1))
        )
    }
}

/// One line per request, at most [`MAX_LISTED`].
fn request_lines(calendar: &BusinessCalendar, today: Date, group: &[DueRequest]) -> String {
    let mut lines: Vec<String> = group
        .iter()
        .take(MAX_LISTED)
        .map(|r| {
            let due = r.due_on.strftime("%d/%m/%Y");
            let when = due_text(calendar, today, r.due_on);
            format!("- {} · {} · plazo {due}: {when}", r.folio, r.kind.label())
        })
        .collect();
    if group.len() > MAX_LISTED {
        lines.push(format!("… y {} más.", group.len() - MAX_LISTED));
    }
    lines.join("\n")
}

/// On a business day, once a day whatever the number of instances: one e-mail to each active
/// user of each company with requests due within [`REMINDER_DAYS`] business days or overdue.
/// Returns the e-mails queued (0 when the day was already claimed, or is no business day).
pub async fn send_daily_reminders(state: &AppState) -> anyhow::Result<usize> {
    let Some((today, calendar)) = sending_day(state).await? else {
        return Ok(0);
    };
    let template = templates::load(state.db.pool(), REMINDER_KEY).await?;
    let (now, domain) = (state.now(), state.message_domain());
    let mut tx = state.db.begin().await?;
    if !claim(&mut tx, REMINDER_JOB, today, now).await? {
        return Ok(0);
    }
    let until = calendar.add_business_days(today, REMINDER_DAYS);
    let mut queued = 0;
    for group in per_company(due_requests(&mut tx, until).await?) {
        let values = [
            ("distribuidora", group[0].distributor_name.clone()),
            ("fecha", today.strftime("%d/%m/%Y").to_string()),
            ("cantidad", group.len().to_string()),
            ("solicitudes", request_lines(&calendar, today, &group)),
            ("enlace", state.settings.link("/distribuidora")),
        ];
        for to in requests::distributor_user_emails(&mut *tx, &group[0].distributor_id).await? {
            outbox::enqueue(&mut *tx, &template.render(&to, &values), &domain, now).await?;
            queued += 1;
        }
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    tracing::info!(emails = queued, "deadline reminders queued");
    Ok(queued)
}

/// A block per company, or a line saying that nothing is overdue.
fn digest_detail(calendar: &BusinessCalendar, today: Date, overdue: Vec<DueRequest>) -> String {
    let blocks: Vec<String> = per_company(overdue)
        .iter()
        .map(|group| {
            let head = format!("{}: {}", group[0].distributor_name, group.len());
            format!("{head}\n{}", request_lines(calendar, today, group))
        })
        .collect();
    if blocks.is_empty() {
        "No hay solicitudes con plazo vencido.".to_string()
    } else {
        blocks.join("\n\n")
    }
}

/// The Monday of the week of `day`: the key of the week's digest.
fn week_start(day: Date) -> Date {
    let back = i64::from(day.weekday().to_monday_zero_offset());
    day.checked_sub(back.days()).unwrap_or(day)
}

async fn regulator_emails(tx: &mut sqlx::AnyConnection) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT email FROM users WHERE profile = 'regulator' AND status = 'active' ORDER BY email",
    )
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(|r| r.try_get("email")).collect()
}

/// Every active SEC user gets, once a week, the overdue requests per company. It goes out on
/// the first business day of the week an instance runs after [`SEND_FROM_HOUR`]: Monday, or
/// Tuesday when Monday is a holiday (or no instance ran on Monday); the claim is keyed by the
/// week's Monday, so the week gets one digest. Sent even when nothing is overdue, so that its
/// absence means the job did not run. Returns the e-mails queued.
pub async fn send_weekly_digest(state: &AppState) -> anyhow::Result<usize> {
    let Some((today, calendar)) = sending_day(state).await? else {
        return Ok(0);
    };
    let template = templates::load(state.db.pool(), OVERDUE_DIGEST_KEY).await?;
    let (now, domain) = (state.now(), state.message_domain());
    let mut tx = state.db.begin().await?;
    if !claim(&mut tx, DIGEST_JOB, week_start(today), now).await? {
        return Ok(0);
    }
    let overdue = due_requests(&mut tx, today.yesterday()?).await?;
    let (total, detail) = (overdue.len(), digest_detail(&calendar, today, overdue));
    let values = [
        ("fecha", today.strftime("%d/%m/%Y").to_string()),
        ("cantidad", total.to_string()),
        ("detalle", detail),
        ("enlace", state.settings.link("/sec/cumplimiento")),
    ];
    let recipients = regulator_emails(&mut tx).await?;
    for to in &recipients {
        outbox::enqueue(&mut *tx, &template.render(to, &values), &domain, now).await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    tracing::info!(
        emails = recipients.len(),
        overdue = total,
        "overdue digest queued"
    );
    Ok(recipients.len())
}
