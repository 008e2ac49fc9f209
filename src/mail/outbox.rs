//! The outbox worker: sends queued e-mails after their transaction committed, retries temporary
//! failures with exponential backoff, gives up on permanent ones. Every instance may run it; a
//! row is claimed before sending, so each e-mail goes out once in normal operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, stream};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use super::transport::{SendError, Transport};
use crate::clock::SharedClock;
use crate::store::{Db, outbox};

/// How long a claimed e-mail is reserved for the worker that claimed it. Longer than one send
/// attempt can take (see [`Outbox::claim_hold`]), so that a slow send is never picked up twice;
/// short enough that an e-mail claimed by an instance that then died goes out soon after.
const CLAIM_HOLD: SignedDuration = SignedDuration::from_mins(5);
/// After this many temporary failures (about three days of retrying) the e-mail is given up.
const MAX_ATTEMPTS: i64 = 80;
const BATCH: i64 = 50;
/// Attempts in flight at once within a pass. An attempt is mostly waiting on the mail server,
/// so a few side by side keep one slow message from holding the others back, while staying a
/// handful of connections to the relay.
const CONCURRENT_SENDS: usize = 4;

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
    /// Due e-mails not attempted because an attempt of this pass timed out: they stay queued,
    /// unclaimed and with their attempts unchanged, for the next pass.
    pub postponed: usize,
}

/// What became of one due e-mail in a pass.
enum Outcome {
    Sent,
    Retried,
    Failed,
    /// Not attempted: an attempt of this pass timed out.
    Postponed,
    /// Another worker claimed it first.
    TakenElsewhere,
}

/// The wait before attempt number `attempts + 1`: 1, 2, 4, … minutes, at most one hour.
pub fn backoff(attempts: i64) -> SignedDuration {
    let exponent = attempts.clamp(0, 6) as u32;
    SignedDuration::from_mins(2i64.pow(exponent)).min(SignedDuration::from_hours(1))
}

impl Outbox {
    /// Sends the e-mails that are due now (up to a batch), a few at a time. When an attempt
    /// times out the mail server is probably hanging, and every other attempt would wait just
    /// as long: the pass then starts no new attempt, lets those in flight finish, and leaves
    /// the rest queued for the next pass. So a hanging server costs a pass about two timeouts,
    /// however many e-mails are due, and the worker is soon free for e-mails queued meanwhile.
    pub async fn deliver_due(&self) -> Result<Pass, sqlx::Error> {
        let now = self.clock.now();
        let due = outbox::due(&self.db, now, BATCH).await?;
        let stalled = AtomicBool::new(false);
        // Every started attempt runs to its end (no early return on an error), so that no row
        // is left claimed by an attempt that was dropped halfway.
        let outcomes: Vec<Result<Outcome, sqlx::Error>> = stream::iter(due)
            .map(|id| self.attempt(id, now, &stalled))
            .buffer_unordered(CONCURRENT_SENDS)
            .collect()
            .await;
        let mut pass = Pass::default();
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => pass.sent += 1,
                Outcome::Retried => pass.retried += 1,
                Outcome::Failed => pass.failed += 1,
                Outcome::Postponed => pass.postponed += 1,
                Outcome::TakenElsewhere => {}
            }
        }
        if pass.postponed > 0 {
            tracing::warn!(
                outbox.postponed = pass.postponed,
                "the mail server timed out; the other due e-mails wait for the next pass"
            );
        }
        Ok(pass)
    }

    /// Claims one e-mail, sends it and records the result, unless an attempt of this pass has
    /// already timed out (`stalled`): then the e-mail is left as it is, not even claimed. A
    /// timed-out attempt is recorded like any temporary failure (a retry with backoff, the
    /// claim released) and raises `stalled`.
    async fn attempt(
        &self,
        id: String,
        now: Timestamp,
        stalled: &AtomicBool,
    ) -> Result<Outcome, sqlx::Error> {
        if stalled.load(Ordering::SeqCst) {
            return Ok(Outcome::Postponed);
        }
        let Some(email) = outbox::claim(&self.db, &id, now, self.claim_hold()).await? else {
            return Ok(Outcome::TakenElsewhere);
        };
        let result = self.transport.send(&self.from, &email).await;
        if matches!(result, Err(SendError::TimedOut(_))) {
            stalled.store(true, Ordering::SeqCst);
        }
        let outcome = match result {
            Ok(()) => {
                outbox::mark_sent(&self.db, &email.id, self.clock.now()).await?;
                tracing::info!(outbox.id = %email.id, "e-mail sent");
                Outcome::Sent
            }
            Err(SendError::Temporary(error) | SendError::TimedOut(error))
                if email.attempts + 1 < MAX_ATTEMPTS =>
            {
                let next = self.clock.now() + backoff(email.attempts);
                outbox::mark_retry(&self.db, &email.id, next, &error).await?;
                tracing::warn!(outbox.id = %email.id, outbox.attempts = email.attempts + 1, error = %error, "e-mail delivery failed, will retry");
                Outcome::Retried
            }
            Err(
                SendError::Temporary(error)
                | SendError::TimedOut(error)
                | SendError::Permanent(error),
            ) => {
                outbox::mark_failed(&self.db, &email.id, &error).await?;
                tracing::error!(outbox.id = %email.id, error = %error, "e-mail delivery failed for good");
                Outcome::Failed
            }
        };
        Ok(outcome)
    }

    /// [`CLAIM_HOLD`], or twice the attempt timeout when that is longer: a claim must outlast
    /// the attempt, or another worker would send the same e-mail while this one still waits.
    fn claim_hold(&self) -> SignedDuration {
        let attempt = SignedDuration::try_from(self.transport.timeout())
            .unwrap_or(SignedDuration::MAX)
            .saturating_mul(2);
        CLAIM_HOLD.max(attempt)
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
