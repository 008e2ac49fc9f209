//! "Empresas distribuidoras": the list, a new company, and one company's page with its data,
//! its payment settings and its standard answers (the last two as the company itself sees
//! them on its "Configuración" page).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Choice, done, html, is_admin, log_action, notice_text, record};
use crate::domain::request::RequestKind;
use crate::domain::text::single_line;
use crate::store::admin::{self, Company, CompanyData, CompanyKind};
use crate::store::companies::{self, CompanySettings};
use crate::store::is_unique_violation;
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};

pub const LIST: &str = "/sec/admin/empresas";
const NAME_MAX: usize = 100;
const BUSINESS_NAME_MAX: usize = 150;
const PREFIX_TAKEN: &str = "Otra distribuidora ya usa este prefijo de folio.";

#[derive(Template)]
#[template(path = "sec_admin_companies.html")]
struct ListPage {
    page: Page,
    companies: Vec<Company>,
    can_change: bool,
}

pub async fn list(
    State(state): State<AppState>,
    RegulatorUser(user): RegulatorUser,
    page: Page,
) -> AppResult<Response> {
    let body = ListPage {
        page,
        companies: admin::companies(&state.db).await?,
        can_change: is_admin(&user),
    };
    Ok(Html(body.render()?).into_response())
}

/// The company's data as typed.
#[derive(Deserialize, Default)]
pub struct CompanyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    folio_prefix: String,
    #[serde(default)]
    kind: String,
    /// A checkbox: present when checked.
    active: Option<String>,
}

impl CompanyForm {
    fn of(data: &CompanyData) -> CompanyForm {
        CompanyForm {
            name: data.name.clone(),
            business_name: data.business_name.clone(),
            folio_prefix: data.folio_prefix.clone(),
            kind: data.kind.code().to_string(),
            active: data.active.then(|| "1".to_string()),
        }
    }
}

/// A published standard answer, as listed on the company's page.
pub struct AnswerRow {
    pub label: &'static str,
    /// The kind in URLs: `si`.
    pub path: String,
    pub file_name: String,
    pub size_kb: i64,
}

#[derive(Template)]
#[template(path = "sec_admin_company.html")]
struct CompanyPage {
    page: Page,
    /// None on the new company's page.
    id: Option<String>,
    /// The saved name, for the title while the form shows what was typed.
    title: String,
    form: CompanyForm,
    kinds: Vec<Choice>,
    errors: FieldErrors,
    settings: CompanySettings,
    settings_errors: FieldErrors,
    answers: Vec<AnswerRow>,
    notice: Option<&'static str>,
    can_change: bool,
    max_setting: usize,
}

/// What a company's page shows besides the saved data.
#[derive(Default)]
pub struct View {
    pub form: Option<CompanyForm>,
    pub errors: FieldErrors,
    pub settings: Option<CompanySettings>,
    pub settings_errors: FieldErrors,
    pub notice: Option<&'static str>,
}

pub async fn company(state: &AppState, id: &str) -> AppResult<Company> {
    admin::company(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn answer_rows(state: &AppState, id: &str) -> AppResult<Vec<AnswerRow>> {
    let published = companies::standard_answers(&state.db, id).await?;
    Ok(published
        .into_iter()
        .map(|(kind, answer): (RequestKind, _)| AnswerRow {
            label: kind.label(),
            path: kind.code().to_ascii_lowercase(),
            file_name: answer.file_name,
            size_kb: (answer.size_bytes + 1023) / 1024,
        })
        .collect())
}

/// The payment data (as typed when it comes back with errors, else as saved) and the
/// published standard answers; a new company has neither.
async fn settings_and_answers(
    state: &AppState,
    company: Option<&Company>,
    typed: Option<CompanySettings>,
) -> AppResult<(CompanySettings, Vec<AnswerRow>)> {
    let Some(company) = company else {
        return Ok((CompanySettings::default(), Vec::new()));
    };
    let settings = match typed {
        Some(typed) => typed,
        None => companies::settings(&state.db, &company.id).await?,
    };
    Ok((settings, answer_rows(state, &company.id).await?))
}

/// A company's page (or the new company's, without `company`); 422 with errors.
pub async fn render(
    state: &AppState,
    page: Page,
    viewer: &User,
    company: Option<&Company>,
    view: View,
) -> AppResult<Response> {
    let failed = !view.errors.is_empty() || !view.settings_errors.is_empty();
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (settings, answers) = settings_and_answers(state, company, view.settings).await?;
    let form = view.form.unwrap_or_else(|| {
        company
            .map(|c| CompanyForm::of(&c.data))
            .unwrap_or_else(new_form)
    });
    let body = CompanyPage {
        page,
        id: company.map(|c| c.id.clone()),
        title: company.map_or_else(
            || "Nueva empresa distribuidora".to_string(),
            |c| c.data.name.clone(),
        ),
        kinds: CompanyKind::ALL
            .into_iter()
            .map(|k| Choice::new(k.code(), k.label(), &form.kind))
            .collect(),
        form,
        errors: view.errors,
        settings,
        settings_errors: view.settings_errors,
        answers,
        notice: view.notice,
        can_change: is_admin(viewer),
        max_setting: super::company_settings::MAX_SETTING,
    }
    .render()?;
    Ok(html(status, body))
}

/// A new company starts active, as a company (most distribuidoras are).
fn new_form() -> CompanyForm {
    CompanyForm {
        kind: CompanyKind::Company.code().to_string(),
        active: Some("1".to_string()),
        ..CompanyForm::default()
    }
}

/// Two letters A-Z: the folio is the prefix and a number, and what comes after the prefix
/// must read as the number. Typed lower-case letters are taken as upper-case.
pub fn parse_prefix(input: &str) -> Result<String, &'static str> {
    let prefix = input.trim().to_ascii_uppercase();
    if prefix.len() == 2 && prefix.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(prefix)
    } else {
        Err("El prefijo de folio son dos letras, de la A a la Z (sin Ñ ni tildes).")
    }
}

/// The typed data checked, the prefix unique among the other companies.
async fn parse_company(
    state: &AppState,
    id: &str,
    form: &CompanyForm,
) -> AppResult<Result<CompanyData, FieldErrors>> {
    let mut errors = FieldErrors::default();
    let mut line = |field, typed: &str, max| {
        single_line(typed, max)
            .map_err(|e| errors.add(field, e))
            .ok()
    };
    let name = line("name", &form.name, NAME_MAX);
    let business_name = line("business_name", &form.business_name, BUSINESS_NAME_MAX);
    let prefix = parse_prefix(&form.folio_prefix)
        .map_err(|e| errors.add("folio_prefix", e))
        .ok();
    let kind = CompanyKind::from_code(&form.kind);
    if kind.is_none() {
        errors.add("kind", "Seleccione si es empresa o cooperativa.");
    }
    if let Some(prefix) = &prefix
        && admin::prefix_taken(&state.db, prefix, id).await?
    {
        errors.add("folio_prefix", PREFIX_TAKEN);
    }
    Ok(match (name, business_name, prefix, kind) {
        (Some(name), Some(business_name), Some(folio_prefix), Some(kind)) if errors.is_empty() => {
            Ok(CompanyData {
                name,
                business_name,
                folio_prefix,
                kind,
                active: form.active.is_some(),
            })
        }
        _ => Err(errors),
    })
}

pub async fn show_new(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
) -> AppResult<Response> {
    render(&state, page, &user, None, View::default()).await
}

pub async fn create(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Form(form): Form<CompanyForm>,
) -> AppResult<Response> {
    submit(&state, page, &user, None, form).await
}

/// Saves a new or an existing company, or shows the form again with its errors.
async fn submit(
    state: &AppState,
    page: Page,
    user: &User,
    company: Option<&Company>,
    form: CompanyForm,
) -> AppResult<Response> {
    let id = company.map_or_else(crate::store::new_id, |c| c.id.clone());
    let mut errors = match parse_company(state, &id, &form).await? {
        Ok(data) => match store(state, user, &id, company, &data).await {
            Ok(()) => return Ok(done(&format!("{LIST}/{id}"), "empresa")),
            Err(error) if is_unique_violation(&error) => FieldErrors::default(),
            Err(error) => return Err(error.into()),
        },
        Err(errors) => errors,
    };
    if errors.is_empty() {
        // Another company took the prefix since it was checked.
        errors.add("folio_prefix", PREFIX_TAKEN);
    }
    let view = View {
        form: Some(form),
        errors,
        ..View::default()
    };
    render(state, page, user, company, view).await
}

/// Writes the data with its audit entry, which names what changed (company data is not
/// personal). Nothing changed, nothing recorded.
async fn store(
    state: &AppState,
    user: &User,
    id: &str,
    before: Option<&Company>,
    data: &CompanyData,
) -> Result<(), sqlx::Error> {
    let now = state.now();
    let (event, detail) = match before {
        None => (
            "company_created",
            format!("{} ({})", data.name, data.folio_prefix),
        ),
        Some(company) => ("company_updated", changes(&company.data, data)),
    };
    let mut tx = state.db.begin().await?;
    admin::save_company(&mut *tx, id, data, now).await?;
    if !detail.is_empty() {
        record(&mut tx, user, event, id, &detail, now).await?;
    }
    tx.commit().await?;
    log_action(event, user, id);
    Ok(())
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    hecho: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    RegulatorUser(user): RegulatorUser,
    page: Page,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> AppResult<Response> {
    let company = company(&state, &id).await?;
    let view = View {
        notice: notice_text(query.hecho.as_deref()),
        ..View::default()
    };
    render(&state, page, &user, Some(&company), view).await
}

pub async fn save(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<CompanyForm>,
) -> AppResult<Response> {
    let company = company(&state, &id).await?;
    submit(&state, page, &user, Some(&company), form).await
}

/// "prefijo: EN → XZ; activa: sí → no".
fn changes(before: &CompanyData, after: &CompanyData) -> String {
    let yes_no = |b: bool| if b { "sí" } else { "no" };
    let pairs: [(&str, &str, &str); 5] = [
        ("nombre", &before.name, &after.name),
        ("razón social", &before.business_name, &after.business_name),
        ("prefijo", &before.folio_prefix, &after.folio_prefix),
        ("tipo", before.kind.label(), after.kind.label()),
        ("activa", yes_no(before.active), yes_no(after.active)),
    ];
    pairs
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| format!("{field}: {old} → {new}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folio_prefixes_are_two_letters() {
        assert_eq!(parse_prefix(" en "), Ok("EN".to_string()));
        assert_eq!(parse_prefix("XZ"), Ok("XZ".to_string()));
        for bad in ["", "E", "ENE", "E1", "ÑA", "É1", "E-", "12", "ＥＮ"] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
