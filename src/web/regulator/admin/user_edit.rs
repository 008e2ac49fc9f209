//! One account: seen by every SEC user, edited by an administrator. RUT and profile are the
//! account's identity at login and are not editable; the company (Distribuidora) and the role
//! (SEC) are chosen from closed lists checked here.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::users::{NAME_MAX, company_choices, user_detail};
use super::{
    Choice, done, html, is_admin, log_action, notice_text, record, role_choices, role_label,
};
use crate::clock::format_date_time;
use crate::domain::text::single_line;
use crate::domain::{AccountStatus, Email, Profile, RegulatorRole};
use crate::store::admin::{self, UserChanges};
use crate::store::users::User;
use crate::store::{is_unique_violation, users};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};

/// Razón social of an applicant company: the registration form's limit.
const BUSINESS_NAME_MAX: usize = 150;

#[derive(Deserialize, Default)]
pub struct EditForm {
    #[serde(default)]
    names: String,
    #[serde(default)]
    surnames: String,
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    distributor_id: String,
    #[serde(default)]
    role: String,
}

impl EditForm {
    fn of(user: &User) -> EditForm {
        EditForm {
            names: user.names.clone(),
            surnames: user.surnames.clone(),
            business_name: user.business_name.clone().unwrap_or_default(),
            email: user.email.clone(),
            distributor_id: user.distributor_id.clone().unwrap_or_default(),
            role: user
                .regulator_role
                .map(RegulatorRole::code)
                .unwrap_or_default()
                .to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "sec_admin_user.html")]
struct UserPage {
    page: Page,
    account: User,
    detail: String,
    created: String,
    form: EditForm,
    companies: Vec<Choice>,
    roles: Vec<Choice>,
    errors: FieldErrors,
    notice: Option<&'static str>,
    /// Why an action was refused.
    problem: Option<String>,
    can_change: bool,
    is_self: bool,
}

impl UserPage {
    fn active(&self) -> bool {
        self.account.status == AccountStatus::Active
    }

    fn disabled(&self) -> bool {
        self.account.status == AccountStatus::Disabled
    }
}

/// What the page shows besides the account: the form as typed, and the outcome of an action.
pub struct Outcome {
    pub form: Option<EditForm>,
    pub errors: FieldErrors,
    pub notice: Option<&'static str>,
    pub problem: Option<String>,
}

impl Outcome {
    pub fn refused(problem: impl Into<String>) -> Outcome {
        Outcome {
            form: None,
            errors: FieldErrors::default(),
            notice: None,
            problem: Some(problem.into()),
        }
    }
}

pub async fn target(state: &AppState, id: &str) -> AppResult<User> {
    users::by_id(&state.db, id).await?.ok_or(AppError::NotFound)
}

/// The page of an account; 422 with field errors, 409 when an action was refused.
pub async fn render(
    state: &AppState,
    page: Page,
    viewer: &User,
    account: User,
    outcome: Outcome,
) -> AppResult<Response> {
    let status = match (&outcome.problem, outcome.errors.is_empty()) {
        (Some(_), _) => StatusCode::CONFLICT,
        (None, false) => StatusCode::UNPROCESSABLE_ENTITY,
        (None, true) => StatusCode::OK,
    };
    let form = outcome.form.unwrap_or_else(|| EditForm::of(&account));
    let companies = match account.profile {
        Profile::Distributor => {
            company_choices(&admin::companies(&state.db).await?, &form.distributor_id)
        }
        _ => Vec::new(),
    };
    let body = UserPage {
        page,
        detail: user_detail(&account),
        created: format_date_time(account.created_at),
        roles: role_choices(&form.role),
        companies,
        form,
        errors: outcome.errors,
        notice: outcome.notice,
        problem: outcome.problem,
        can_change: is_admin(viewer),
        is_self: viewer.id == account.id,
        account,
    }
    .render()?;
    Ok(html(status, body))
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    hecho: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    RegulatorUser(viewer): RegulatorUser,
    page: Page,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> AppResult<Response> {
    let account = target(&state, &id).await?;
    let outcome = Outcome {
        form: None,
        errors: FieldErrors::default(),
        notice: notice_text(query.hecho.as_deref()),
        problem: None,
    };
    render(&state, page, &viewer, account, outcome).await
}

/// The form's values once checked.
struct Parsed {
    names: String,
    surnames: String,
    business_name: Option<String>,
    email: Email,
    company: Option<String>,
    role: Option<RegulatorRole>,
}

/// Names, or the razón social of an applicant company (which has no names of its own).
fn parse_names(account: &User, form: &EditForm, errors: &mut FieldErrors) -> Option<[String; 2]> {
    let mut line = |field, typed: &str, max| {
        single_line(typed, max)
            .map_err(|e| errors.add(field, e))
            .ok()
    };
    if account.business_name.is_some() {
        let business = line("business_name", &form.business_name, BUSINESS_NAME_MAX);
        return business.map(|_| [account.names.clone(), account.surnames.clone()]);
    }
    let names = line("names", &form.names, NAME_MAX);
    let surnames = line("surnames", &form.surnames, NAME_MAX);
    Some([names?, surnames?])
}

/// The company (Distribuidora) and role (SEC) looked up in their closed lists; an
/// administrator may not demote themself, so that the console always keeps one.
async fn parse_choices(
    state: &AppState,
    admin_user: &User,
    account: &User,
    form: &EditForm,
    errors: &mut FieldErrors,
) -> AppResult<(Option<String>, Option<RegulatorRole>)> {
    let mut company = None;
    if account.profile == Profile::Distributor {
        let companies = admin::companies(&state.db).await?;
        company = companies
            .into_iter()
            .map(|c| c.id)
            .find(|id| *id == form.distributor_id);
        if company.is_none() {
            errors.add(
                "distributor_id",
                "Seleccione la distribuidora de la cuenta.",
            );
        }
    }
    let mut role = None;
    if account.profile == Profile::Regulator {
        role = RegulatorRole::from_code(&form.role);
        match role {
            None => errors.add("role", "Seleccione el rol SEC de la cuenta."),
            Some(RegulatorRole::Auditor) if admin_user.id == account.id => errors.add(
                "role",
                "No puede quitarse a sí mismo el rol de administrador. Pídaselo a otro \
                 administrador.",
            ),
            Some(_) => {}
        }
    }
    Ok((company, role))
}

async fn parse_edit(
    state: &AppState,
    admin_user: &User,
    account: &User,
    form: &EditForm,
    errors: &mut FieldErrors,
) -> AppResult<Option<Parsed>> {
    let names = parse_names(account, form, errors);
    let email = Email::parse(&form.email)
        .map_err(|e| errors.add("email", e))
        .ok();
    if let Some(email) = &email
        && account.profile == Profile::Applicant
        && admin::applicant_email_taken(&state.db, email, &account.id).await?
    {
        errors.add("email", EMAIL_TAKEN);
    }
    let (company, role) = parse_choices(state, admin_user, account, form, errors).await?;
    let (Some([names, surnames]), Some(email)) = (names, email) else {
        return Ok(None);
    };
    let business_name = account
        .business_name
        .as_ref()
        .map(|_| form.business_name.trim().to_string());
    Ok(errors.is_empty().then_some(Parsed {
        names,
        surnames,
        business_name,
        email,
        company,
        role,
    }))
}

const EMAIL_TAKEN: &str = "Otro Solicitante ya usa este correo electrónico.";

pub async fn save(
    State(state): State<AppState>,
    RegulatorAdmin(admin_user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> AppResult<Response> {
    let account = target(&state, &id).await?;
    let mut errors = FieldErrors::default();
    let parsed = parse_edit(&state, &admin_user, &account, &form, &mut errors).await?;
    if let Some(parsed) = parsed {
        match apply(&state, &admin_user, &account, &parsed).await {
            Ok(()) => return Ok(done(&format!("/sec/admin/usuarios/{id}"), "guardada")),
            // Another applicant took the e-mail since it was checked.
            Err(error) if is_unique_violation(&error) => errors.add("email", EMAIL_TAKEN),
            Err(error) => return Err(error.into()),
        }
    }
    let outcome = Outcome {
        form: Some(form),
        errors,
        notice: None,
        problem: None,
    };
    render(&state, page, &admin_user, account, outcome).await
}

/// Saves the changes with their audit entries: one for the data, one for a role change.
async fn apply(
    state: &AppState,
    admin_user: &User,
    account: &User,
    parsed: &Parsed,
) -> Result<(), sqlx::Error> {
    let changes = UserChanges {
        names: &parsed.names,
        surnames: &parsed.surnames,
        business_name: parsed.business_name.as_deref(),
        email: &parsed.email,
        distributor_id: parsed.company.as_deref(),
        regulator_role: parsed.role,
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    admin::update_user(&mut *tx, account, &changes).await?;
    for (event, detail) in audit_entries(account, parsed) {
        record(&mut tx, admin_user, event, &account.id, &detail, now).await?;
        log_action(event, admin_user, &account.id);
    }
    tx.commit().await
}

/// One entry for the changed data, one for a role change; none when nothing changed.
fn audit_entries(account: &User, parsed: &Parsed) -> Vec<(&'static str, String)> {
    let mut entries = Vec::new();
    let changed = changed_fields(account, parsed);
    if !changed.is_empty() {
        entries.push(("account_updated", format!("Campos: {}", changed.join(", "))));
    }
    if let (Some(before), Some(after)) = (account.regulator_role, parsed.role)
        && before != after
    {
        let detail = format!("{} → {}", role_label(before), role_label(after));
        entries.push(("role_changed", detail));
    }
    entries
}

/// The names of the fields that change, for the audit entry; not their values, which are
/// personal data.
fn changed_fields(account: &User, parsed: &Parsed) -> Vec<&'static str> {
    let pairs = [
        ("nombres", account.names == parsed.names),
        ("apellidos", account.surnames == parsed.surnames),
        (
            "razón social",
            account.business_name == parsed.business_name,
        ),
        ("correo electrónico", account.email == parsed.email.as_str()),
        ("distribuidora", account.distributor_id == parsed.company),
    ];
    pairs
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(field, _)| field)
        .collect()
}
