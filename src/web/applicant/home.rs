//! The applicant's home: each installation as a timeline SI → SC → MC → NC, with what comes
//! next. Requests belong to one installation when they name the same company and client (or
//! factibilidad) number, or when one names the other as "Solicitud relacionada".

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use crate::domain::request::RequestKind;
use crate::store::requests::{self, RequestSummary};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::{ApplicantUser, Page};

pub struct Step {
    pub label: &'static str,
    /// The latest request of this kind in the installation, if any: (folio, status, link).
    pub request: Option<(String, &'static str, String)>,
}

pub struct Installation {
    pub title: String,
    pub steps: Vec<Step>,
    /// (label, link) of the next form to file, when the sequence is not complete.
    pub next: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "home_applicant.html")]
struct HomePage {
    page: Page,
    installations: Vec<Installation>,
}

pub async fn show(
    State(state): State<AppState>,
    ApplicantUser(user): ApplicantUser,
    page: Page,
) -> AppResult<Response> {
    let all = requests::all_of_applicant(&state.db, &user.id).await?;
    let installations = group(&all)
        .into_iter()
        .map(|members| installation(&members))
        .collect();
    Ok(Html(
        HomePage {
            page,
            installations,
        }
        .render()?,
    )
    .into_response())
}

/// Union-find over the requests (oldest first): same company and number, or linked.
pub fn group(all: &[RequestSummary]) -> Vec<Vec<&RequestSummary>> {
    let mut parent: Vec<usize> = (0..all.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let index: HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut by_number: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, request) in all.iter().enumerate() {
        let key = (
            request.distributor_id.as_str(),
            request.client_or_feasibility(),
        );
        if let Some(&first) = by_number.get(&key) {
            let (a, b) = (root(&mut parent, first), root(&mut parent, i));
            parent[b] = a;
        } else {
            by_number.insert(key, i);
        }
        if let Some(&related) = request
            .related_request_id
            .as_deref()
            .and_then(|id| index.get(id))
        {
            let (a, b) = (root(&mut parent, related), root(&mut parent, i));
            parent[b] = a;
        }
    }
    let mut groups: Vec<(usize, Vec<&RequestSummary>)> = Vec::new();
    for (i, request) in all.iter().enumerate() {
        let r = root(&mut parent, i);
        match groups.iter_mut().find(|(key, _)| *key == r) {
            Some((_, members)) => members.push(request),
            None => groups.push((r, vec![request])),
        }
    }
    // The most recently active installation first.
    groups.sort_by_key(|(_, members)| {
        std::cmp::Reverse(members.iter().map(|r| r.submitted_at).max())
    });
    groups.into_iter().map(|(_, members)| members).collect()
}

fn installation(members: &[&RequestSummary]) -> Installation {
    let latest = |kind: RequestKind| members.iter().rev().find(|r| r.kind == kind);
    let steps = RequestKind::ALL
        .iter()
        .map(|&kind| Step {
            label: kind.label(),
            request: latest(kind).map(|r| {
                (
                    r.folio.clone(),
                    r.status.label(),
                    format!("/solicitudes/{}", r.id),
                )
            }),
        })
        .collect();
    let furthest = RequestKind::ALL
        .iter()
        .rposition(|&kind| latest(kind).is_some())
        .unwrap_or(0);
    let last = members.last().expect("a group has members");
    let next = RequestKind::ALL.get(furthest + 1).map(|kind| {
        let href = format!(
            "/solicitudes/nueva/{}?relacionada={}",
            kind.code().to_ascii_lowercase(),
            last.folio
        );
        (format!("Siguiente paso: {}", kind.label()), href)
    });
    let number = last.client_or_feasibility();
    Installation {
        title: format!("{} — N° {number}", last.distributor_name),
        steps,
        next,
    }
}
