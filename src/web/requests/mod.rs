//! Pages about one request, shared by every profile: the view, the print view and the file
//! downloads. Which requests a user may see is decided by `viewer_of` and the predicate every
//! query carries.

pub mod listing;
pub mod view;

use crate::domain::Profile;
use crate::store::requests::Viewer;
use crate::store::users::User;

/// The access rule in one place: an applicant sees their own requests, a distribuidora user
/// their company's, SEC all.
pub fn viewer_of(user: &User) -> Viewer {
    match (user.profile, &user.distributor_id) {
        (Profile::Applicant, _) => Viewer::Applicant {
            user_id: user.id.clone(),
        },
        (Profile::Distributor, Some(distributor_id)) => Viewer::Distributor {
            distributor_id: distributor_id.clone(),
        },
        // A distribuidora account always has its company (a CHECK constraint says so); if one
        // did not, it would see only what it applied for itself, which is nothing.
        (Profile::Distributor, None) => Viewer::Applicant {
            user_id: user.id.clone(),
        },
        (Profile::Regulator, _) => Viewer::Regulator,
    }
}
