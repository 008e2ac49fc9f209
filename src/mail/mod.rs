//! E-mail: the texts (templates in `templates/emails/`), the transports, and the outbox worker.

pub mod messages;
pub mod outbox;
pub mod templates;
pub mod transport;

pub use transport::Transport;
