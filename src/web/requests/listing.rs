//! What the request lists of every profile share: the row as shown and the paging.

use crate::clock::format_date;
use crate::store::requests::RequestSummary;

/// A row of a request list, formatted for display.
pub struct Row {
    pub id: String,
    pub distributor_reference: String,
    pub folio: String,
    pub client: String,
    pub kind: &'static str,
    pub distributor: String,
    pub submitted: String,
    pub answered: String,
    pub status: &'static str,
    pub status_code: &'static str,
}

impl From<&RequestSummary> for Row {
    fn from(request: &RequestSummary) -> Self {
        Row {
            id: request.id.clone(),
            distributor_reference: request.distributor_reference.clone().unwrap_or_default(),
            folio: request.folio.clone(),
            client: request.client_or_feasibility().to_string(),
            kind: request.kind.label(),
            distributor: request.distributor_name.clone(),
            submitted: format_date(request.submitted_at),
            answered: request.answered_at.map(format_date).unwrap_or_default(),
            status: request.status.label(),
            status_code: request.status.code(),
        }
    }
}

/// "Mostrar 10 Items" and "[ 1 - 10 ] de N Items".
pub struct Paging {
    pub per_page: i64,
    pub page: i64,
    pub total: i64,
    /// The count stopped at its cap: there are more than `total` (see `requests::COUNT_CAP`).
    pub more: bool,
    pub base: String,
}

pub const PAGE_SIZES: [i64; 4] = [10, 25, 50, 100];

impl Paging {
    pub fn from_query(items: Option<&str>, page: Option<&str>, base: &str) -> Paging {
        let per_page = items
            .and_then(|v| v.parse().ok())
            .filter(|n| PAGE_SIZES.contains(n))
            .unwrap_or(10);
        let page = page
            .and_then(|v| v.parse().ok())
            .filter(|n: &i64| *n >= 1 && *n <= 1_000_000)
            .unwrap_or(1);
        Paging {
            per_page,
            page,
            total: 0,
            more: false,
            base: base.to_string(),
        }
    }

    /// Takes a capped count (`requests::count_bound`): reaching the bound means "more than".
    pub fn set_total(&mut self, counted: i64) {
        let bound = crate::store::requests::count_bound(self.offset(), self.per_page);
        self.more = counted >= bound;
        self.total = if self.more { bound - 1 } else { counted };
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    pub fn first(&self) -> i64 {
        if self.total == 0 {
            0
        } else {
            self.offset() + 1
        }
    }

    pub fn last(&self) -> i64 {
        (self.offset() + self.per_page).min(self.total)
    }

    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }

    /// Moves a page past the end (an old link, or a page size changed by hand) back to the
    /// last page, so that a list never reads "[ 41 - 12 ]" over an empty table. True when it
    /// moved: the page must then be read again.
    pub fn clamp_to_last(&mut self) -> bool {
        let last = self.pages();
        let beyond = self.page > last;
        if beyond {
            self.page = last;
        }
        beyond
    }

    pub fn sizes(&self) -> [i64; 4] {
        PAGE_SIZES
    }

    fn link(&self, page: i64) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}items={}&pagina={page}",
            self.base, self.per_page
        )
    }

    pub fn previous(&self) -> Option<String> {
        (self.page > 1).then(|| self.link(self.page - 1))
    }

    pub fn next(&self) -> Option<String> {
        (self.page < self.pages()).then(|| self.link(self.page + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_that_reached_its_cap_reads_as_more_than() {
        let mut paging = Paging::from_query(Some("10"), Some("1"), "/sec");
        paging.set_total(crate::store::requests::COUNT_CAP + 1);
        assert!(paging.more);
        assert_eq!(paging.total, crate::store::requests::COUNT_CAP);
        assert!(paging.next().is_some());
        paging.set_total(42);
        assert!(!paging.more);
        assert_eq!(paging.total, 42);
        // Far into a long list the bound moves with the page, so its last rows still count.
        let mut far = Paging::from_query(Some("100"), Some("200"), "/sec");
        far.set_total(20_001);
        assert!(far.more);
        assert_eq!((far.first(), far.last()), (19_901, 20_000));
        assert!(!far.clamp_to_last());
    }

    #[test]
    fn paging_bounds_and_links() {
        let mut paging = Paging::from_query(Some("25"), Some("2"), "/solicitudes");
        paging.total = 60;
        assert_eq!((paging.first(), paging.last(), paging.pages()), (26, 50, 3));
        assert_eq!(
            paging.previous().as_deref(),
            Some("/solicitudes?items=25&pagina=1")
        );
        assert_eq!(
            paging.next().as_deref(),
            Some("/solicitudes?items=25&pagina=3")
        );
        let mut empty = Paging::from_query(Some("7"), Some("-3"), "/x");
        assert_eq!((empty.per_page, empty.page), (10, 1));
        empty.total = 0;
        assert_eq!((empty.first(), empty.last(), empty.pages()), (0, 0, 1));
        assert_eq!(empty.next(), None);
        assert!(!empty.clamp_to_last());

        let mut beyond = Paging::from_query(Some("10"), Some("5"), "/solicitudes");
        beyond.total = 12;
        assert!(beyond.clamp_to_last());
        assert_eq!((beyond.page, beyond.first(), beyond.last()), (2, 11, 12));
        assert!(!beyond.clamp_to_last());
    }
}
