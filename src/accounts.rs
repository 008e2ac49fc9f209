//! Creating accounts for staff (Distribuidora, SEC) and, from the command line, any profile.
//! Shared by `portal user add`, `portal demo` and, later, the SEC administration pages.

use jiff::SignedDuration;

use crate::domain::password::NewPassword;
use crate::domain::{AccountStatus, Email, Profile, RegulatorRole, Rut};
use crate::mail::messages;
use crate::store::audit::{self, AuditEntry};
use crate::store::tokens::{self, Purpose};
use crate::store::{is_unique_violation, outbox, reference, users};
use crate::web::AppState;

/// A first-password link for an account made by someone else lives longer than a recovery
/// link: the new user may not read mail for a weekend.
pub const FIRST_PASSWORD_LINK: SignedDuration = SignedDuration::from_hours(72);

pub struct NewAccount {
    pub profile: Profile,
    pub rut: Rut,
    pub email: Email,
    pub names: String,
    pub surnames: String,
    /// Folio prefix of the company, for Distribuidora accounts.
    pub distributor_prefix: Option<String>,
    pub regulator_role: Option<RegulatorRole>,
}

pub struct CreatedAccount {
    pub user_id: String,
    /// The one-time link to choose a password, when none was given.
    pub password_link: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("an account with this profile and RUT already exists")]
    Duplicate,
    #[error("no distribution company has the folio prefix {0:?}")]
    UnknownDistributor(String),
    #[error(
        "a Distribuidora account needs --distributor PREFIX, and only Distribuidora accounts take one"
    )]
    DistributorMismatch,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CreateError {
    fn from(error: sqlx::Error) -> Self {
        if is_unique_violation(&error) {
            CreateError::Duplicate
        } else {
            CreateError::Other(error.into())
        }
    }
}

/// Creates an active account. With a password it is ready to use; without one, a link to choose
/// it is e-mailed (through the outbox, in the same transaction) and returned.
pub async fn create(
    state: &AppState,
    account: &NewAccount,
    password: Option<NewPassword>,
) -> Result<CreatedAccount, CreateError> {
    create_by(state, account, password, None).await
}

/// [`create`], naming in the audit trail the administrator who did it (none from the command
/// line).
pub async fn create_by(
    state: &AppState,
    account: &NewAccount,
    password: Option<NewPassword>,
    actor_id: Option<&str>,
) -> Result<CreatedAccount, CreateError> {
    let distributor_id = match (account.profile, &account.distributor_prefix) {
        (Profile::Distributor, Some(prefix)) => Some(
            reference::distributor_by_prefix(&state.db, prefix)
                .await?
                .ok_or_else(|| CreateError::UnknownDistributor(prefix.clone()))?
                .id,
        ),
        (Profile::Distributor, None) | (_, Some(_)) => {
            return Err(CreateError::DistributorMismatch);
        }
        _ => None,
    };
    let regulator_role = (account.profile == Profile::Regulator).then(|| {
        account
            .regulator_role
            .unwrap_or(RegulatorRole::Administrator)
    });
    let hash = match password {
        Some(password) => Some(crate::web::hash_password_blocking(password).await?),
        None => None,
    };
    let now = state.now();
    let new_user = users::NewUser {
        profile: account.profile,
        rut: &account.rut,
        email: &account.email,
        names: &account.names,
        surnames: &account.surnames,
        business_name: None,
        is_installer: false,
        installer_license: None,
        distributor_id: distributor_id.as_deref(),
        regulator_role,
        status: AccountStatus::Active,
        password_hash: hash.as_deref(),
    };
    let mut tx = state.db.begin().await?;
    let user_id = users::insert(&mut *tx, &new_user, now).await?;
    audit_creation(&mut tx, actor_id, &user_id, &new_user, now).await?;
    let password_link = if hash.is_none() {
        let token = tokens::create(
            &mut *tx,
            &user_id,
            Purpose::Password,
            now,
            FIRST_PASSWORD_LINK,
        )
        .await?;
        let link = state.settings.link(&format!("/clave/{token}"));
        let name = format!("{} {}", account.names, account.surnames);
        let email = messages::account_created(
            account.email.as_str(),
            &name,
            account.profile.label(),
            &link,
        )?;
        outbox::enqueue(&mut *tx, &email, &state.message_domain(), now).await?;
        Some(link)
    } else {
        None
    };
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    tracing::info!(security.event = "account_created", user.id = %user_id, user.profile = account.profile.code(), "account created");
    Ok(CreatedAccount {
        user_id,
        password_link,
    })
}

/// The account's line in the audit trail, written in the transaction that creates it.
async fn audit_creation(
    tx: &mut sqlx::AnyConnection,
    actor_id: Option<&str>,
    user_id: &str,
    account: &users::NewUser<'_>,
    now: jiff::Timestamp,
) -> Result<(), sqlx::Error> {
    let profile = account.profile.label();
    let detail = match account.regulator_role {
        Some(role) => format!("Perfil {profile} ({})", role.code()),
        None => format!("Perfil {profile}"),
    };
    let entry = AuditEntry {
        actor_id,
        event: "account_created",
        target: Some(user_id),
        detail: Some(&detail),
    };
    audit::record(tx, &entry, now).await
}
