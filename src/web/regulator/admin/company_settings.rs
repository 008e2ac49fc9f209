//! A company's settings as SEC edits them: the payment data shown to applicants who pay, and
//! the standard answers, which SEC may download and remove. Publishing a standard answer
//! stays on the company's own "Configuración" page, where its staff upload the file.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::companies::{LIST, View, company, render};
use super::{done, log_action, record};
use crate::store::companies::{self, CompanySettings};
use crate::web::AppState;
use crate::web::applicant::kind_from_path;
use crate::web::communication::multi_line;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};

/// The same limit as on the company's own page.
pub const MAX_SETTING: usize = 2_000;

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    bank_details: String,
    #[serde(default)]
    payment_instructions: String,
}

/// The typed texts checked, or the page's errors. Either text may be empty: the company may
/// not take payments.
fn parse_settings(form: &SettingsForm) -> Result<CompanySettings, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut check = |field: &'static str, typed: &str| {
        multi_line(typed, MAX_SETTING)
            .map_err(|message| errors.add(field, message))
            .ok()
    };
    let bank = check("bank_details", &form.bank_details);
    let instructions = check("payment_instructions", &form.payment_instructions);
    match (bank, instructions) {
        (Some(bank_details), Some(payment_instructions)) => Ok(CompanySettings {
            bank_details,
            payment_instructions,
        }),
        _ => Err(errors),
    }
}

/// "Grabar" of the payment data.
pub async fn save(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let company = company(&state, &id).await?;
    let settings = match parse_settings(&form) {
        Ok(settings) => settings,
        Err(errors) => {
            let typed = CompanySettings {
                bank_details: form.bank_details,
                payment_instructions: form.payment_instructions,
            };
            let view = View {
                settings: Some(typed),
                settings_errors: errors,
                ..View::default()
            };
            return render(&state, page, &user, Some(&company), view).await;
        }
    };
    let now = state.now();
    // `save_settings` writes through the pool; the entry follows it.
    companies::save_settings(&state.db, &company.id, &settings, now).await?;
    let mut connection = state.db.pool().acquire().await?;
    let detail = "datos de pago";
    record(
        &mut connection,
        &user,
        "company_updated",
        &company.id,
        detail,
        now,
    )
    .await?;
    log_action("company_updated", &user, &company.id);
    Ok(done(&format!("{LIST}/{}", company.id), "pago"))
}

/// The company's current standard answer of a kind, always as a download under a sandbox,
/// like every file the portal serves back.
pub async fn download(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    Path((id, kind)): Path<(String, String)>,
) -> AppResult<Response> {
    let company = company(&state, &id).await?;
    let kind = kind_from_path(&kind)?;
    let answer = companies::standard_answer(&state.db, &company.id, kind)
        .await?
        .ok_or(AppError::NotFound)?;
    let file = crate::web::download::StoredFile {
        storage_key: &answer.storage_key,
        file_name: &answer.file_name,
        file_kind: &answer.file_kind,
        size_bytes: answer.size_bytes,
    };
    crate::web::download::serve(&state, file).await
}

/// "Eliminar": new requests of the kind wait for an answer again; earlier ones keep their
/// own copy of the file, so the removed one is deleted from storage.
pub async fn remove(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    Path((id, kind)): Path<(String, String)>,
) -> AppResult<Response> {
    let company = company(&state, &id).await?;
    let kind = kind_from_path(&kind)?;
    let removed = companies::remove_standard_answer(&state.db, &company.id, kind).await?;
    if let Some(key) = removed {
        let detail = format!("respuesta automática {} eliminada", kind.code());
        let mut connection = state.db.pool().acquire().await?;
        record(
            &mut connection,
            &user,
            "company_updated",
            &company.id,
            &detail,
            state.now(),
        )
        .await?;
        if let Err(error) = state.files.delete(&key).await {
            // Not under attachments/, so no collector will find it: say which file stays.
            tracing::warn!(
                error = %error, storage.key = %key, "could not delete a standard answer"
            );
        }
        log_action("company_updated", &user, &company.id);
    }
    Ok(done(&format!("{LIST}/{}", company.id), "respuesta"))
}
