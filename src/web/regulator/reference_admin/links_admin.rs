//! "Enlaces de Interés" as SEC edits them: links (title, an http or https address,
//! description, active) in an order SEC chooses. The page also lists the official forms, which
//! `official_forms` publishes and removes.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{LINKS, Notice, can_edit, entry, html, notice_text};
use crate::domain::text::single_line;
use crate::store::audit;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::links::{self, AdminLink, OfficialForm};
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};

const MAX_URL: usize = 500;

pub(super) fn done(code: &str) -> Response {
    Redirect::to(&format!("{LINKS}?aviso={code}")).into_response()
}

#[derive(Template)]
#[template(path = "sec_admin_links.html")]
struct LinksAdminPage {
    page: Page,
    links: Vec<AdminLink>,
    forms: Vec<OfficialForm>,
    can_edit: bool,
    shown: Shown,
}

/// The page's forms as they are shown: empty, or as typed with their errors.
pub(super) struct Shown {
    /// Editing one link: only its form is shown, with `values`.
    pub(super) editing: Option<String>,
    pub(super) values: AdminLink,
    pub(super) errors: FieldErrors,
    pub(super) upload_title: String,
    pub(super) upload_errors: FieldErrors,
    pub(super) notice: Option<String>,
}

impl Default for Shown {
    fn default() -> Self {
        Shown {
            editing: None,
            // A new link is active unless unticked.
            values: AdminLink {
                active: true,
                ..AdminLink::default()
            },
            errors: FieldErrors::default(),
            upload_title: String::new(),
            upload_errors: FieldErrors::default(),
            notice: None,
        }
    }
}

pub(super) async fn render(state: &AppState, page: Page, shown: Shown) -> AppResult<Response> {
    let links = links::all_links(state.db.pool()).await?;
    let forms = links::official_forms(&state.db).await?;
    let can_edit = page.user.as_ref().is_some_and(can_edit);
    let body = LinksAdminPage {
        page,
        links,
        forms,
        can_edit,
        shown,
    };
    let mut errors = FieldErrors::default();
    for (field, message) in body
        .shown
        .errors
        .all()
        .into_iter()
        .chain(body.shown.upload_errors.all())
    {
        errors.add(field, message);
    }
    Ok(html(body.render()?, &errors))
}

pub async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    let shown = Shown {
        notice: notice_text(&notice),
        ..Shown::default()
    };
    render(&state, page, shown).await
}

/// "Editar": the one link's form alone.
pub async fn show_edit(
    State(state): State<AppState>,
    RegulatorAdmin(_user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let link = links::link(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let shown = Shown {
        editing: Some(id),
        values: link,
        ..Shown::default()
    };
    render(&state, page, shown).await
}

#[derive(Deserialize, Default)]
pub struct LinkForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    /// A checkbox: present when ticked.
    active: Option<String>,
}

impl LinkForm {
    fn typed(self, id: String) -> AdminLink {
        let active = self.active.is_some();
        AdminLink {
            id,
            title: self.title,
            url: self.url,
            description: self.description,
            active,
        }
    }
}

/// Only web addresses: a `javascript:` or `data:` link on a page every user sees would run in
/// the portal's origin or imitate it.
fn check_url(typed: &str) -> Result<String, &'static str> {
    const FULL: &str = "Ingrese una dirección completa que comience con https:// o http://.";
    let typed = typed.trim();
    if typed.is_empty() {
        return Err("Ingrese la dirección del enlace.");
    }
    if typed.chars().count() > MAX_URL || typed.chars().any(char::is_control) {
        return Err("La dirección es demasiado larga o contiene caracteres no permitidos.");
    }
    let url = url::Url::parse(typed).map_err(|_| FULL)?;
    let web = matches!(url.scheme(), "http" | "https");
    if !web || url.host_str().is_none_or(str::is_empty) {
        return Err(FULL);
    }
    Ok(url.to_string())
}

fn check_link(form: &LinkForm, id: &str) -> Result<AdminLink, FieldErrors> {
    let mut errors = FieldErrors::default();
    let title = single_line(&form.title, 120)
        .map_err(|e| errors.add("title", e))
        .ok();
    let url = check_url(&form.url).map_err(|e| errors.add("url", e)).ok();
    let description = match form.description.trim() {
        "" => Some(String::new()),
        typed => single_line(typed, 300)
            .map_err(|e| errors.add("description", e))
            .ok(),
    };
    match (title, url, description) {
        (Some(title), Some(url), Some(description)) => {
            let active = form.active.is_some();
            Ok(AdminLink {
                id: id.to_string(),
                title,
                url,
                description,
                active,
            })
        }
        _ => Err(errors),
    }
}

pub async fn add(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Form(form): Form<LinkForm>,
) -> AppResult<Response> {
    let link = match check_link(&form, "") {
        Ok(link) => link,
        Err(errors) => {
            let shown = Shown {
                values: form.typed(String::new()),
                errors,
                ..Shown::default()
            };
            return render(&state, page, shown).await;
        }
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id = links::insert_link(&mut tx, &link).await?;
    audit::record(&mut *tx, &entry(&user, "link_added", &id, &link.title), now).await?;
    tx.commit().await?;
    Ok(done("enlace_agregado"))
}

pub async fn edit(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<LinkForm>,
) -> AppResult<Response> {
    let link = match check_link(&form, &id) {
        Ok(link) => link,
        Err(errors) => {
            let values = form.typed(id.clone());
            let shown = Shown {
                editing: Some(id),
                values,
                errors,
                ..Shown::default()
            };
            return render(&state, page, shown).await;
        }
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !links::update_link(&mut tx, &link).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        &entry(&user, "link_updated", &id, &link.title),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(done("enlace_guardado"))
}

pub async fn remove(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // A second click finds nothing to remove and lands on the same page.
    if let Some(title) = links::delete_link(&mut tx, &id).await? {
        audit::record(&mut *tx, &entry(&user, "link_removed", &id, &title), now).await?;
        tx.commit().await?;
    }
    Ok(done("enlace_eliminado"))
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    direccion: String,
}

pub async fn move_link(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    let up = match form.direccion.as_str() {
        "arriba" => true,
        "abajo" => false,
        _ => return Err(AppError::BadRequest("Indique si el enlace sube o baja.")),
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if links::move_link(&mut tx, &id, up).await? {
        let detail = &form.direccion;
        audit::record(&mut *tx, &entry(&user, "link_moved", &id, detail), now).await?;
        tx.commit().await?;
    }
    Ok(done("enlace_movido"))
}
