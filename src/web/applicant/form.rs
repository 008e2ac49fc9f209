//! The form of a new request: "Datos Generales" and "Archivos Adjuntos", as the manual shows.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::clock::format_date;
use crate::domain::request::{AttachmentSlot, RequestKind, SlotSpec, slots};
use crate::files::inspect::MIB;
use crate::store::reference::{self, Distributor, Region};
use crate::store::requests::{self, RequestSummary, Viewer};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{ApplicantUser, Page};

/// What the applicant typed, kept when the form comes back with errors.
#[derive(Default, Debug, Clone)]
pub struct FormValues {
    pub distributor_id: String,
    pub region: String,
    pub comuna: String,
    pub client_number: String,
    pub no_client_number: bool,
    pub feasibility_number: String,
    pub additional_email: String,
    pub related_folio: String,
    pub brings_meter: bool,
    pub token: String,
}

/// A file field of the form.
pub struct SlotView {
    pub code: &'static str,
    pub label: &'static str,
    pub required: bool,
    pub hint: String,
    pub accept: String,
    /// Part of the bidirectional-meter group of the NC form.
    pub meter: bool,
}

#[derive(Template)]
#[template(path = "request_form.html")]
pub struct RequestFormPage {
    pub page: Page,
    pub kind: RequestKind,
    pub kind_path: String,
    pub distributors: Vec<Distributor>,
    pub regions: Vec<Region>,
    pub earlier: Vec<RequestSummary>,
    pub values: FormValues,
    pub slots: Vec<SlotView>,
    pub errors: FieldErrors,
    /// Set when the form comes back: browsers cannot keep chosen files.
    pub files_dropped: bool,
}

impl RequestFormPage {
    pub fn earlier_label(&self, request: &RequestSummary) -> String {
        format!(
            "{} — {} — {}",
            request.folio,
            request.kind.label(),
            format_date(request.submitted_at)
        )
    }
}

/// "Archivo PDF, JPG, PNG, DOC o DOCX de hasta 5 MB."
pub fn slot_hint(spec: &SlotSpec) -> String {
    let labels: Vec<&str> = spec.allowed().iter().map(|kind| kind.label()).collect();
    let list = match labels.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} o {last}", init.join(", ")),
    };
    let megabytes = spec.max_bytes() / MIB;
    format!("Archivo {list} de hasta {megabytes} MB.")
}

fn slot_views(kind: RequestKind) -> Vec<SlotView> {
    let plain: Vec<AttachmentSlot> = slots(kind, false).iter().map(SlotSpec::slot).collect();
    slots(kind, true)
        .iter()
        .map(|spec| SlotView {
            code: spec.slot().code(),
            label: spec.label(),
            required: spec.is_required(),
            hint: slot_hint(spec),
            accept: spec
                .allowed()
                .iter()
                .map(|k| format!(".{}", k.extension()))
                .collect::<Vec<_>>()
                .join(","),
            meter: !plain.contains(&spec.slot()),
        })
        .collect()
}

pub async fn render(
    state: &AppState,
    page: Page,
    applicant_id: &str,
    kind: RequestKind,
    values: FormValues,
    errors: FieldErrors,
) -> AppResult<Response> {
    let files_dropped = !errors.is_empty();
    let status = if errors.is_empty() { 200 } else { 422 };
    let viewer = Viewer::Applicant {
        user_id: applicant_id.to_string(),
    };
    let (earlier, _) = requests::list(&state.db, &viewer, 200, 0).await?;
    let body = RequestFormPage {
        page,
        kind,
        kind_path: kind.code().to_ascii_lowercase(),
        distributors: reference::active_distributors(&state.db).await?,
        regions: reference::regions_with_comunas(&state.db).await?,
        earlier,
        values,
        slots: slot_views(kind),
        errors,
        files_dropped,
    }
    .render()?;
    Ok((
        axum::http::StatusCode::from_u16(status).expect("valid status"),
        Html(body),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct Prefill {
    /// A folio of the applicant's own: the new request continues that installation.
    relacionada: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    ApplicantUser(user): ApplicantUser,
    page: Page,
    Path(kind): Path<String>,
    Query(prefill): Query<Prefill>,
) -> AppResult<Response> {
    let kind = super::kind_from_path(&kind)?;
    let mut values = FormValues {
        token: crate::crypto::random_token(),
        ..FormValues::default()
    };
    if let Some(folio) = prefill.relacionada.filter(|f| !f.trim().is_empty()) {
        prefill_from(&state, &user.id, &folio, &mut values).await?;
    }
    render(&state, page, &user.id, kind, values, FieldErrors::default()).await
}

/// Copies company, place and numbers from an earlier request of the same applicant.
async fn prefill_from(
    state: &AppState,
    applicant_id: &str,
    folio: &str,
    values: &mut FormValues,
) -> AppResult<()> {
    let Some(id) = requests::applicant_request_by_folio(&state.db, applicant_id, folio).await?
    else {
        return Ok(());
    };
    let viewer = Viewer::Applicant {
        user_id: applicant_id.to_string(),
    };
    if let Some(detail) = requests::detail(&state.db, &viewer, &id).await? {
        values.related_folio = detail.summary.folio.clone();
        values.distributor_id = detail.summary.distributor_id.clone();
        values.region = detail.region_code.clone();
        values.comuna = detail.comuna_code.clone();
        values.client_number = detail.summary.client_number.clone().unwrap_or_default();
        values.additional_email = detail.additional_email.clone().unwrap_or_default();
    }
    Ok(())
}
