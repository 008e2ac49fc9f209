//! "Usuarios": the list of every account, with filters, and the creation of an account of any
//! profile. A new account gets no password: its holder chooses one through the e-mailed link.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Choice, done, html, is_admin, log_action, notice_text, role_choices, role_label};
use crate::accounts::{self, CreateError, NewAccount};
use crate::domain::text::single_line;
use crate::domain::{Email, Profile, RegulatorRole, Rut};
use crate::store::admin::{self, Company, UserFilter};
use crate::store::users::{self, User};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};
use crate::web::requests::listing::Paging;

const LIST: &str = "/sec/admin/usuarios";
pub const NAME_MAX: usize = 100;
/// A search longer than any name, e-mail or RUT cannot match; it is cut rather than refused.
const SEARCH_MAX: usize = 100;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    perfil: Option<String>,
    buscar: Option<String>,
    items: Option<String>,
    pagina: Option<String>,
    hecho: Option<String>,
}

/// A row of the list, formatted for display.
pub struct UserRow {
    pub id: String,
    pub rut: String,
    pub name: String,
    pub email: String,
    pub profile: &'static str,
    /// The company of a Distribuidora account, the role of a SEC one.
    pub detail: String,
    pub status: &'static str,
}

impl From<&User> for UserRow {
    fn from(user: &User) -> Self {
        UserRow {
            id: user.id.clone(),
            rut: user.rut_formatted(),
            name: user.display_name(),
            email: user.email.clone(),
            profile: user.profile.label(),
            detail: user_detail(user),
            status: user.status.label(),
        }
    }
}

/// "Enel Distribución" for a company's user, "Auditor" for SEC, nothing for an applicant.
pub fn user_detail(user: &User) -> String {
    match (&user.distributor_name, user.regulator_role) {
        (Some(company), _) => company.clone(),
        (None, Some(role)) => role_label(role).to_string(),
        (None, None) => String::new(),
    }
}

#[derive(Template)]
#[template(path = "sec_admin_users.html")]
struct ListPage {
    page: Page,
    rows: Vec<UserRow>,
    paging: Paging,
    profiles: Vec<Choice>,
    search: String,
    filtered: bool,
    notice: Option<&'static str>,
    can_change: bool,
}

fn profile_choices(selected: &str) -> Vec<Choice> {
    Profile::ALL
        .into_iter()
        .map(|profile| Choice::new(profile.code(), profile.label(), selected))
        .collect()
}

fn filter_of(query: &ListQuery) -> UserFilter {
    let search = query
        .buscar
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    UserFilter {
        profile: query.perfil.as_deref().and_then(Profile::from_code),
        search: search.map(|s| s.chars().take(SEARCH_MAX).collect()),
    }
}

/// The list's address with its filters, to which the pager adds its own parameters.
fn base_of(filter: &UserFilter) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(profile) = filter.profile {
        query.append_pair("perfil", profile.code());
    }
    if let Some(search) = &filter.search {
        query.append_pair("buscar", search);
    }
    let query = query.finish();
    if query.is_empty() {
        LIST.to_string()
    } else {
        format!("{LIST}?{query}")
    }
}

pub async fn list(
    State(state): State<AppState>,
    RegulatorUser(user): RegulatorUser,
    page: Page,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let filter = filter_of(&query);
    let mut paging = Paging::from_query(
        query.items.as_deref(),
        query.pagina.as_deref(),
        &base_of(&filter),
    );
    let per_page = paging.per_page;
    let read = |offset| admin::list_users(&state.db, &filter, per_page, offset);
    let (mut found, total) = read(paging.offset()).await?;
    paging.total = total;
    if paging.clamp_to_last() {
        (found, paging.total) = read(paging.offset()).await?;
    }
    let body = ListPage {
        page,
        rows: found.iter().map(UserRow::from).collect(),
        paging,
        profiles: profile_choices(filter.profile.map(Profile::code).unwrap_or_default()),
        search: filter.search.clone().unwrap_or_default(),
        filtered: filter != UserFilter::default(),
        notice: notice_text(query.hecho.as_deref()),
        can_change: is_admin(&user),
    };
    Ok(Html(body.render()?).into_response())
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    perfil: String,
    #[serde(default)]
    rut: String,
    #[serde(default)]
    names: String,
    #[serde(default)]
    surnames: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    distributor_id: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "sec_admin_user_new.html")]
struct NewUserPage {
    page: Page,
    form: NewUserForm,
    profiles: Vec<Choice>,
    companies: Vec<Choice>,
    roles: Vec<Choice>,
    errors: FieldErrors,
}

/// Every company, the inactive ones marked: an inactive company may still have staff.
pub fn company_choices(companies: &[Company], selected: &str) -> Vec<Choice> {
    companies
        .iter()
        .map(|company| {
            let data = &company.data;
            let label = if data.active {
                format!("{} ({})", data.name, data.folio_prefix)
            } else {
                format!("{} ({}) – inactiva", data.name, data.folio_prefix)
            };
            Choice::new(&company.id, &label, selected)
        })
        .collect()
}

async fn render_new(
    state: &AppState,
    page: Page,
    form: NewUserForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let companies = admin::companies(&state.db).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = NewUserPage {
        page,
        profiles: profile_choices(&form.perfil),
        companies: company_choices(&companies, &form.distributor_id),
        roles: role_choices(&form.role),
        form,
        errors,
    }
    .render()?;
    Ok(html(status, body))
}

pub async fn show_new(
    State(state): State<AppState>,
    RegulatorAdmin(_user): RegulatorAdmin,
    page: Page,
) -> AppResult<Response> {
    render_new(&state, page, NewUserForm::default(), FieldErrors::default()).await
}

/// The form as a new account, or the errors to show beside each field. The company and the
/// role are looked up in their closed lists; they count only for the profile that has one.
fn parse_new(form: &NewUserForm, companies: &[Company]) -> Result<NewAccount, FieldErrors> {
    let mut errors = FieldErrors::default();
    let rut = Rut::parse(&form.rut).map_err(|e| errors.add("rut", e)).ok();
    let mut text = |field, typed: &str| {
        single_line(typed, NAME_MAX)
            .map_err(|e| errors.add(field, e))
            .ok()
    };
    let names = text("names", &form.names);
    let surnames = text("surnames", &form.surnames);
    let email = Email::parse(&form.email)
        .map_err(|e| errors.add("email", e))
        .ok();
    let (profile, distributor_prefix, regulator_role) =
        parse_profile(form, companies, rut.as_ref(), &mut errors);
    match (profile, rut, names, surnames, email) {
        (Some(profile), Some(rut), Some(names), Some(surnames), Some(email))
            if errors.is_empty() =>
        {
            Ok(NewAccount {
                profile,
                rut,
                email,
                names,
                surnames,
                distributor_prefix,
                regulator_role,
            })
        }
        _ => Err(errors),
    }
}

/// The profile, and the company (its folio prefix) or the role that only that profile has.
fn parse_profile(
    form: &NewUserForm,
    companies: &[Company],
    rut: Option<&Rut>,
    errors: &mut FieldErrors,
) -> (Option<Profile>, Option<String>, Option<RegulatorRole>) {
    let company = companies.iter().find(|c| c.id == form.distributor_id);
    let role = RegulatorRole::from_code(&form.role);
    let profile = Profile::from_code(&form.perfil);
    match profile {
        None => errors.add("perfil", "Seleccione el perfil de la cuenta."),
        Some(Profile::Distributor) if company.is_none() => errors.add(
            "distributor_id",
            "Seleccione la distribuidora de la cuenta.",
        ),
        Some(Profile::Regulator) if role.is_none() => {
            errors.add("role", "Seleccione el rol SEC de la cuenta.")
        }
        // The account would need a razón social, which `accounts::create` does not take.
        Some(Profile::Applicant) if rut.is_some_and(Rut::is_company) => errors.add(
            "rut",
            "Una empresa (RUT de 50.000.000 o más) se registra a sí misma con su razón social \
             en «Registrarse».",
        ),
        Some(_) => {}
    }
    let prefix = company
        .filter(|_| profile == Some(Profile::Distributor))
        .map(|c| c.data.folio_prefix.clone());
    (
        profile,
        prefix,
        role.filter(|_| profile == Some(Profile::Regulator)),
    )
}

/// An applicant's RUT and e-mail are unique among applicants; say which one is taken.
async fn applicant_conflict(state: &AppState, account: &NewAccount) -> AppResult<FieldErrors> {
    let mut errors = FieldErrors::default();
    if account.profile == Profile::Applicant
        && let Some(other) =
            users::applicant_by_rut_or_email(&state.db, &account.rut, &account.email).await?
    {
        if other.rut == account.rut.normalized() {
            errors.add("rut", "Ya existe una cuenta de Solicitante con este RUT.");
        } else {
            errors.add("email", "Otro Solicitante ya usa este correo electrónico.");
        }
    }
    Ok(errors)
}

pub async fn create(
    State(state): State<AppState>,
    RegulatorAdmin(admin_user): RegulatorAdmin,
    page: Page,
    Form(form): Form<NewUserForm>,
) -> AppResult<Response> {
    let companies = admin::companies(&state.db).await?;
    let account = match parse_new(&form, &companies) {
        Ok(account) => account,
        Err(errors) => return render_new(&state, page, form, errors).await,
    };
    let errors = applicant_conflict(&state, &account).await?;
    if !errors.is_empty() {
        return render_new(&state, page, form, errors).await;
    }
    // `create_by` writes the audit entry, naming this administrator, with the account.
    let actor = Some(admin_user.id.as_str());
    let created = match accounts::create_by(&state, &account, None, actor).await {
        Ok(created) => created,
        Err(CreateError::Duplicate) => {
            let mut errors = FieldErrors::default();
            errors.add("rut", "Ya existe una cuenta con este perfil y RUT.");
            return render_new(&state, page, form, errors).await;
        }
        Err(error) => return Err(anyhow::Error::new(error).into()),
    };
    log_action("account_created", &admin_user, &created.user_id);
    Ok(done(&format!("{LIST}/{}", created.user_id), "creada"))
}
