//! Accounts of the three profiles.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Any, Db};
use crate::clock::{from_micros, to_micros};
use crate::domain::{AccountStatus, Email, Profile, RegulatorRole, Rut};

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub profile: Profile,
    pub rut: String,
    pub email: String,
    pub names: String,
    pub surnames: String,
    pub business_name: Option<String>,
    pub is_installer: bool,
    pub distributor_id: Option<String>,
    pub distributor_name: Option<String>,
    pub regulator_role: Option<RegulatorRole>,
    pub status: AccountStatus,
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
}

impl User {
    /// The name shown at the top right and in e-mails.
    pub fn display_name(&self) -> String {
        match &self.business_name {
            Some(business) => business.clone(),
            None => format!("{} {}", self.names, self.surnames),
        }
    }

    pub fn rut_formatted(&self) -> String {
        Rut::parse(&self.rut)
            .map(|r| r.formatted())
            .unwrap_or_else(|_| self.rut.clone())
    }
}

/// What a new account holds. Role, company and status are decided by the caller (the
/// registration handler or the administrator's command), never read from a form.
pub struct NewUser<'a> {
    pub profile: Profile,
    pub rut: &'a Rut,
    pub email: &'a Email,
    pub names: &'a str,
    pub surnames: &'a str,
    pub business_name: Option<&'a str>,
    pub is_installer: bool,
    pub installer_license: Option<&'a str>,
    pub distributor_id: Option<&'a str>,
    pub regulator_role: Option<RegulatorRole>,
    pub status: AccountStatus,
    pub password_hash: Option<&'a str>,
}

macro_rules! select_user {
    () => {
        "SELECT u.id, u.profile, u.rut, u.email, u.names, u.surnames, \
     u.business_name, u.is_installer, u.distributor_id, d.name AS distributor_name, \
     u.regulator_role, u.status, u.password_hash, u.created_at \
     FROM users u LEFT JOIN distributors d ON d.id = u.distributor_id"
    };
}

pub(super) fn from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let decode = |column: &str, value: String| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?}").into(),
    };
    let profile: String = row.try_get("profile")?;
    let status: String = row.try_get("status")?;
    let role: Option<String> = row.try_get("regulator_role")?;
    Ok(User {
        id: row.try_get("id")?,
        profile: Profile::from_code(&profile).ok_or_else(|| decode("profile", profile.clone()))?,
        rut: row.try_get("rut")?,
        email: row.try_get("email")?,
        names: row.try_get("names")?,
        surnames: row.try_get("surnames")?,
        business_name: row.try_get("business_name")?,
        is_installer: row.try_get::<i64, _>("is_installer")? == 1,
        distributor_id: row.try_get("distributor_id")?,
        distributor_name: row.try_get("distributor_name")?,
        regulator_role: role.as_deref().and_then(RegulatorRole::from_code),
        status: AccountStatus::from_code(&status)
            .ok_or_else(|| decode("status", status.clone()))?,
        password_hash: row.try_get("password_hash")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

pub async fn insert<'e, E>(
    executor: E,
    user: &NewUser<'_>,
    now: Timestamp,
) -> Result<String, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let id = super::new_id();
    sqlx::query(
        "INSERT INTO users (id, profile, rut, email, names, surnames, business_name, is_installer, \
         installer_license, distributor_id, regulator_role, status, password_hash, created_at, \
         activated_at, password_changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&id)
    .bind(user.profile.code())
    .bind(user.rut.normalized())
    .bind(user.email.as_str())
    .bind(user.names)
    .bind(user.surnames)
    .bind(user.business_name)
    .bind(i64::from(user.is_installer))
    .bind(user.installer_license)
    .bind(user.distributor_id)
    .bind(user.regulator_role.map(RegulatorRole::code))
    .bind(user.status.code())
    .bind(user.password_hash)
    .bind(to_micros(now))
    .bind((user.status == AccountStatus::Active).then(|| to_micros(now)))
    .bind(user.password_hash.map(|_| to_micros(now)))
    .execute(executor)
    .await?;
    Ok(id)
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(select_user!(), " WHERE u.id = $1");
    let row = sqlx::query(sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_profile_rut(
    db: &Db,
    profile: Profile,
    rut: &Rut,
) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(select_user!(), " WHERE u.profile = $1 AND u.rut = $2");
    let row = sqlx::query(sql)
        .bind(profile.code())
        .bind(rut.normalized())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The applicant that holds this RUT or this e-mail, if any (both are unique among applicants).
pub async fn applicant_by_rut_or_email(
    db: &Db,
    rut: &Rut,
    email: &Email,
) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(
        select_user!(),
        " WHERE u.profile = 'applicant' AND (u.rut = $1 OR u.email = $2)"
    );
    let row = sqlx::query(sql)
        .bind(rut.normalized())
        .bind(email.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn activate<'e, E>(
    executor: E,
    user_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let done = sqlx::query("UPDATE users SET status = 'active', activated_at = $2 WHERE id = $1 AND status = 'pending'")
        .bind(user_id)
        .bind(to_micros(now))
        .execute(executor)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_password<'e, E>(
    executor: E,
    user_id: &str,
    hash: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .bind(to_micros(now))
        .execute(executor)
        .await?;
    Ok(())
}
