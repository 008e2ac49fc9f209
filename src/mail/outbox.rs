//! The outbox worker: sends queued e-mails after their transaction committed, retries temporary
//! failures with exponential backoff, gives up on permanent ones. Every instance may run it; a
//! row is claimed before sending, so each e-mail goes out once in normal operation.

use std::sync::Arc;

use jiff::SignedDuration;
use tokio::sync::Notify;

use super::transport::{SendError, Transport};
use crate::clock::SharedClock;
use crate::store::{Db, outbox};

/// How long a claimed e-mail is reserved for the worker that claimed it. Longer than one send
/// attempt can take, so that a slow send is never picked up twice.
const CLAIM_HOLD: SignedDuration = SignedDuration::from_mins(5);
/// After this many temporary failures (about three days of retrying) the e-mail is given up.
const MAX_ATTEMPTS: i64 = 80;
const BATCH: i64 = 50;

pub struct Outbox {
    pub db: Db,
    pub transport: Transport,
    pub clock: SharedClock,
    pub from: String,
    /// Woken after a commit that queued e-mails, so they leave at once instead of at the next poll.
    pub wakeup: Arc<Notify>,
}

/// What one pass did, for tests and logs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// The wait before attempt number `attempts + 1`: 1, 2, 4, … minutes, at most one hour.
pub fn backoff(attempts: i64) -> SignedDuration {
    let exponent = attempts.clamp(0, 6) as u32;
    SignedDuration::from_mins(2i64.pow(exponent)).min(SignedDuration::from_hours(1))
}

impl Outbox {
    /// Sends every e-mail that is due now.
    pub async fn deliver_due(&self) -> Result<Pass, sqlx::Error> {
        let mut pass = Pass::default();
        let now = self.clock.now();
        for id in outbox::due(&self.db, now, BATCH).await? {
            let Some(email) = outbox::claim(&self.db, &id, now, CLAIM_HOLD).await? else {
                continue;
            };
            match self.transport.send(&self.from, &email).await {
                Ok(()) => {
                    outbox::mark_sent(&self.db, &email.id, self.clock.now()).await?;
                    tracing::info!(outbox.id = %email.id, "e-mail sent");
                    pass.sent += 1;
                }
                Err(SendError::Temporary(error)) if email.attempts + 1 < MAX_ATTEMPTS => {
                    let next = self.clock.now() + backoff(email.attempts);
                    outbox::mark_retry(&self.db, &email.id, next, &error).await?;
                    tracing::warn!(outbox.id = %email.id, outbox.attempts = email.attempts + 1, error = %error, "e-mail delivery failed, will retry");
                    pass.retried += 1;
                }
                Err(SendError::Temporary(error) | SendError::Permanent(error)) => {
                    outbox::mark_failed(&self.db, &email.id, &error).await?;
                    tracing::error!(outbox.id = %email.id, error = %error, "e-mail delivery failed for good");
                    pass.failed += 1;
                }
            }
        }
        Ok(pass)
    }

    /// Runs until the process ends: a pass when woken or every `poll`.
    pub async fn run(self, poll: SignedDuration) {
        let poll = poll.unsigned_abs();
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(error = %error, "outbox pass failed; the database may be unavailable");
            }
            tokio::select! {
                _ = self.wakeup.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// The domain in Message-IDs: the host of the public base URL.
pub fn message_domain(base_url: &url::Url) -> String {
    base_url.host_str().unwrap_or("localhost").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), SignedDuration::from_mins(1));
        assert_eq!(backoff(1), SignedDuration::from_mins(2));
        assert_eq!(backoff(5), SignedDuration::from_mins(32));
        assert_eq!(backoff(6), SignedDuration::from_hours(1));
        assert_eq!(backoff(60), SignedDuration::from_hours(1));
    }
}
