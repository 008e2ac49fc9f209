//! The Distribuidora's pages: the "Bandeja de Solicitudes" with its filters, and the "Reporte"
//! of the same requests as Excel or CSV. Both see only the user's own company: the company is
//! taken from the account, never from the query.

pub mod inbox;
pub mod report;

use crate::domain::request::{RequestKind, Status};
use crate::store::filters::Filters;

/// An option of a filter's select list.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The filter form as shown: what was typed, and the two select lists.
pub struct FilterForm {
    pub reference: String,
    pub folio: String,
    pub client: String,
    pub kinds: Vec<Choice>,
    pub statuses: Vec<Choice>,
}

impl FilterForm {
    pub fn new(filters: &Filters) -> FilterForm {
        let kinds = RequestKind::ALL
            .into_iter()
            .map(|kind| Choice {
                value: kind.code(),
                label: kind.label(),
                selected: filters.kind == Some(kind),
            })
            .collect();
        let statuses = Status::ALL
            .into_iter()
            .map(|status| Choice {
                value: status.code(),
                label: status.label(),
                selected: filters.status == Some(status),
            })
            .collect();
        FilterForm {
            reference: filters.distributor_reference.clone().unwrap_or_default(),
            folio: filters.folio_prefix.clone().unwrap_or_default(),
            client: filters.client_number.clone().unwrap_or_default(),
            kinds,
            statuses,
        }
    }

    /// The active filters in words ("N° Folio: EN1"), for the report page.
    pub fn active(&self) -> Vec<(&'static str, String)> {
        let selected = |choices: &[Choice]| {
            choices
                .iter()
                .find(|c| c.selected)
                .map(|c| c.label.to_string())
        };
        [
            ("N° Solicitud", Some(self.reference.clone())),
            ("N° Folio", Some(self.folio.clone())),
            ("N° Cliente", Some(self.client.clone())),
            ("Tipo de formulario", selected(&self.kinds)),
            ("Estado", selected(&self.statuses)),
        ]
        .into_iter()
        .filter_map(|(label, value)| value.filter(|v| !v.is_empty()).map(|v| (label, v)))
        .collect()
    }
}

/// `path` followed by the filters' query, if any.
pub fn with_filters(path: &str, filters: &Filters) -> String {
    let query = filters.to_query_string();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}
