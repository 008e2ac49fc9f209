//! Pure domain types and rules: no I/O, no async.

pub mod calendar;
pub mod email;
pub mod password;
pub mod profile;
pub mod request;
pub mod rut;
pub mod text;
pub mod workflow;

pub use email::Email;
pub use profile::{AccountStatus, Profile, RegulatorRole};
pub use rut::Rut;
