//! What the SEC administrator changes by hand: accounts of every profile and the distribution
//! companies. Each writing function takes an executor, so that the caller puts the change and
//! its audit entry in one transaction. Who may call them is decided by the web layer.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::users::{self, User};
use super::{Any, Db};
use crate::clock::to_micros;
use crate::domain::{AccountStatus, Email, Profile, RegulatorRole};

/// The LIKE escape character; `!` reads the same to PostgreSQL and SQLite (see `filters`).
const LIKE_ESCAPE: char = '!';

const USER_COLUMNS: &str = "u.id, u.profile, u.rut, u.email, u.names, u.surnames, \
     u.business_name, u.is_installer, u.distributor_id, d.name AS distributor_name, \
     u.regulator_role, u.status, u.password_hash, u.created_at";

/// The optional conditions take an empty text as "any", so that one constant statement serves
/// every combination of filters.
const USER_FILTER: &str = "FROM users u LEFT JOIN distributors d ON d.id = u.distributor_id \
     WHERE ($1 = '' OR u.profile = $1) AND ($2 = '' \
     OR u.rut LIKE $3 ESCAPE '!' OR LOWER(u.email) LIKE $2 ESCAPE '!' \
     OR LOWER(u.names || ' ' || u.surnames) LIKE $2 ESCAPE '!' \
     OR LOWER(COALESCE(u.business_name, '')) LIKE $2 ESCAPE '!')";

/// The filters of the users list: a profile, and a text found in the RUT, name or e-mail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub profile: Option<Profile>,
    pub search: Option<String>,
}

/// `%text%` with LIKE's own characters taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_') || c == LIKE_ESCAPE {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl UserFilter {
    /// The bound values: profile code, name/e-mail pattern, RUT pattern. A RUT is stored as
    /// `12345678-5`, so the typed dots go and a `k` becomes `K` before it is compared.
    fn binds(&self) -> [String; 3] {
        let profile = self.profile.map(Profile::code).unwrap_or_default();
        let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return [profile.to_string(), String::new(), String::new()];
        };
        let rut: String = search.replace('.', "").to_uppercase();
        [
            profile.to_string(),
            contains_pattern(&search.to_lowercase()),
            contains_pattern(&rut),
        ]
    }
}

/// One page of the accounts matching the filter, newest first, and how many match in all.
pub async fn list_users(
    db: &Db,
    filter: &UserFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let [profile, pattern, rut] = filter.binds();
    let sql = format!(
        "SELECT {USER_COLUMNS} {USER_FILTER} ORDER BY u.created_at DESC, u.id DESC \
         LIMIT $4 OFFSET $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&profile)
        .bind(&pattern)
        .bind(&rut)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) {USER_FILTER}"
    )))
    .bind(&profile)
    .bind(&pattern)
    .bind(&rut)
    .fetch_one(db.pool())
    .await?;
    let users = rows.iter().map(users::from_row).collect::<Result<_, _>>()?;
    Ok((users, total))
}

/// What the administrator may change in an account. RUT and profile never change: they are
/// the account's identity at login.
pub struct UserChanges<'a> {
    pub names: &'a str,
    pub surnames: &'a str,
    /// Only for accounts that have one (applicant companies).
    pub business_name: Option<&'a str>,
    pub email: &'a Email,
    /// Only for Distribuidora accounts; the caller checked it names a company.
    pub distributor_id: Option<&'a str>,
    /// Only for SEC accounts.
    pub regulator_role: Option<RegulatorRole>,
}

/// Saves the changes. The profile stays in the WHERE clause, so that a company or a role can
/// only land on an account of the profile that holds one (the CHECK constraints agree).
pub async fn update_user<'e, E>(
    executor: E,
    user: &User,
    changes: &UserChanges<'_>,
) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "UPDATE users SET names = $3, surnames = $4, business_name = $5, email = $6, \
         distributor_id = $7, regulator_role = $8 WHERE id = $1 AND profile = $2",
    )
    .bind(&user.id)
    .bind(user.profile.code())
    .bind(changes.names)
    .bind(changes.surnames)
    .bind(changes.business_name)
    .bind(changes.email.as_str())
    .bind(changes.distributor_id)
    .bind(changes.regulator_role.map(RegulatorRole::code))
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether another applicant already uses this e-mail (it is unique among applicants).
pub async fn applicant_email_taken(
    db: &Db,
    email: &Email,
    except_user_id: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE profile = 'applicant' AND email = $1 AND id <> $2",
    )
    .bind(email.as_str())
    .bind(except_user_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

/// Disables an account. False when it already was (a second click).
pub async fn disable<'e, E>(executor: E, user_id: &str) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let done = sqlx::query("UPDATE users SET status = $2 WHERE id = $1 AND status <> $2")
        .bind(user_id)
        .bind(AccountStatus::Disabled.code())
        .execute(executor)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Enables a disabled account. It becomes active even if its holder never activated it: the
/// administrator vouches for it. False when it was not disabled.
pub async fn enable<'e, E>(executor: E, user_id: &str, now: Timestamp) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "UPDATE users SET status = $2, activated_at = COALESCE(activated_at, $3) \
         WHERE id = $1 AND status = $4",
    )
    .bind(user_id)
    .bind(AccountStatus::Active.code())
    .bind(to_micros(now))
    .bind(AccountStatus::Disabled.code())
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The records that name an account and must outlive it. An account with any of them is
/// disabled, never deleted, so that the history keeps its actor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserReferences {
    pub requests: i64,
    pub request_events: i64,
    pub payments: i64,
    pub audit_entries: i64,
}

impl UserReferences {
    pub fn is_empty(&self) -> bool {
        *self == UserReferences::default()
    }
}

pub async fn references<'e, E>(executor: E, user_id: &str) -> Result<UserReferences, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM requests WHERE applicant_id = $1) AS requests, \
         (SELECT COUNT(*) FROM request_events WHERE actor_id = $1) AS request_events, \
         (SELECT COUNT(*) FROM payments WHERE requested_by = $1) AS payments, \
         (SELECT COUNT(*) FROM audit_log WHERE actor_id = $1) AS audit_entries",
    )
    .bind(user_id)
    .fetch_one(executor)
    .await?;
    Ok(UserReferences {
        requests: row.try_get("requests")?,
        request_events: row.try_get("request_events")?,
        payments: row.try_get("payments")?,
        audit_entries: row.try_get("audit_entries")?,
    })
}

/// Deletes an account; its sessions and links go with it (ON DELETE CASCADE). A record that
/// still names it makes the database refuse (a foreign-key violation), which the caller reports
/// like the references it checked first.
pub async fn delete_user<'e, E>(executor: E, user_id: &str) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---- Distribution companies. ----

/// A distribuidora is a company (empresa) or a cooperative (cooperativa).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompanyKind {
    Company,
    Cooperative,
}

impl CompanyKind {
    pub const ALL: [CompanyKind; 2] = [CompanyKind::Company, CompanyKind::Cooperative];

    pub fn code(self) -> &'static str {
        match self {
            CompanyKind::Company => "empresa",
            CompanyKind::Cooperative => "cooperativa",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            CompanyKind::Company => "Empresa",
            CompanyKind::Cooperative => "Cooperativa",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Company {
    pub id: String,
    pub data: CompanyData,
}

/// A company's own data, as the administrator edits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanyData {
    pub name: String,
    pub business_name: String,
    /// Two upper-case letters, checked by the caller.
    pub folio_prefix: String,
    pub kind: CompanyKind,
    pub active: bool,
}

const COMPANY_COLUMNS: &str = "id, folio_prefix, name, business_name, kind, active";

fn company_from_row(row: &AnyRow) -> Result<Company, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Company {
        id: row.try_get("id")?,
        data: CompanyData {
            name: row.try_get("name")?,
            business_name: row.try_get("business_name")?,
            folio_prefix: row.try_get("folio_prefix")?,
            // The CHECK constraint allows only the two codes.
            kind: CompanyKind::from_code(&kind).unwrap_or(CompanyKind::Company),
            active: row.try_get::<i64, _>("active")? == 1,
        },
    })
}

/// Every company, active or not, by name.
pub async fn companies(db: &Db) -> Result<Vec<Company>, sqlx::Error> {
    let sql = format!("SELECT {COMPANY_COLUMNS} FROM distributors ORDER BY name, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(company_from_row).collect()
}

pub async fn company(db: &Db, id: &str) -> Result<Option<Company>, sqlx::Error> {
    let sql = format!("SELECT {COMPANY_COLUMNS} FROM distributors WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(company_from_row).transpose()
}

/// Whether another company already has this folio prefix.
pub async fn prefix_taken(db: &Db, prefix: &str, except_id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM distributors WHERE folio_prefix = $1 AND id <> $2")
            .bind(prefix)
            .bind(except_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(found.is_some())
}

/// Creates the company with this id, or saves its data. Folios already assigned keep their
/// prefix: they are stored text. A prefix taken meanwhile is a unique violation.
pub async fn save_company<'e, E>(
    executor: E,
    id: &str,
    data: &CompanyData,
    now: Timestamp,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO distributors (id, folio_prefix, name, business_name, kind, active, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
         folio_prefix = excluded.folio_prefix, name = excluded.name, \
         business_name = excluded.business_name, kind = excluded.kind, active = excluded.active",
    )
    .bind(id)
    .bind(&data.folio_prefix)
    .bind(&data.name)
    .bind(&data.business_name)
    .bind(data.kind.code())
    .bind(i64::from(data.active))
    .bind(to_micros(now))
    .execute(executor)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_like_and_kinds_round_trip() {
        assert_eq!(contains_pattern("50%_a!"), "%50!%!_a!!%");
        let filter = UserFilter {
            profile: Some(Profile::Distributor),
            search: Some(" 12.345.678-k ".to_string()),
        };
        let [profile, pattern, rut] = filter.binds();
        assert_eq!(profile, "distributor");
        assert_eq!(pattern, "%12.345.678-k%");
        assert_eq!(rut, "%12345678-K%");
        assert_eq!(
            UserFilter::default().binds(),
            [String::new(), String::new(), String::new()]
        );
        for kind in CompanyKind::ALL {
            assert_eq!(CompanyKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(CompanyKind::from_code("Empresa"), None);
    }
}
