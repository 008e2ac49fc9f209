//! Where e-mails go: `.eml` files in a directory (the default, for development and demos) or
//! an SMTP server (`smtp://`, `smtp://…?tls=required`, `smtps://`).

use std::time::Duration;

use anyhow::{Context, bail};
use lettre::message::header::ContentType;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::store::outbox::QueuedEmail;

/// Where e-mails go, and how long one delivery attempt may take.
#[derive(Clone)]
pub struct Transport {
    channel: Channel,
    timeout: Duration,
}

#[derive(Clone)]
enum Channel {
    Files(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Why an attempt failed, as far as retrying is concerned.
#[derive(Debug)]
pub enum SendError {
    /// Worth trying again later: connection refused, 4xx answers.
    Temporary(String),
    /// Worth trying again later too, but the server did not answer within the attempt's time:
    /// it may be hanging, and then every other attempt right now would wait as long.
    TimedOut(String),
    /// Will never work: 5xx answers, an address the library refuses.
    Permanent(String),
}

impl Transport {
    /// `timeout` bounds one whole attempt (connecting, the conversation and the answer), so
    /// that a server that accepts the connection and then says nothing cannot hold the worker.
    pub fn from_url(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            std::fs::create_dir_all(path)
                .with_context(|| format!("creating the mail directory {path}"))?;
            let channel = Channel::Files(AsyncFileTransport::new(path));
            return Ok(Transport { channel, timeout });
        }
        if url.starts_with("smtp://") || url.starts_with("smtps://") {
            // lettre's own timeout applies to each network operation; it closes the socket
            // cleanly, while the outer one in `send` bounds the attempt as a whole.
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .context("PORTAL_MAIL_URL is not a valid SMTP URL")?
                .timeout(Some(timeout))
                .build();
            let channel = Channel::Smtp(smtp);
            return Ok(Transport { channel, timeout });
        }
        bail!("PORTAL_MAIL_URL must start with file://, smtp:// or smtps://")
    }

    /// The longest one attempt takes before it is given up as [`SendError::TimedOut`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn send(&self, from: &str, email: &QueuedEmail) -> Result<(), SendError> {
        let message = build(from, email).map_err(|e| SendError::Permanent(e.to_string()))?;
        let attempt = async {
            match &self.channel {
                Channel::Files(files) => files
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError::Temporary(format!("writing the .eml file: {e}"))),
                Channel::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(e.to_string())
                    } else if e.is_timeout() {
                        SendError::TimedOut(e.to_string())
                    } else {
                        SendError::Temporary(e.to_string())
                    }
                }),
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(SendError::TimedOut(format!(
                "the mail server did not answer within {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

fn build(from: &str, email: &QueuedEmail) -> anyhow::Result<Message> {
    Ok(Message::builder()
        .from(
            from.parse()
                .context("PORTAL_MAIL_FROM is not a valid address")?,
        )
        .to(email.recipient.parse().context("recipient address")?)
        .subject(&email.subject)
        .message_id(Some(email.message_id.clone()))
        .header(ContentType::TEXT_PLAIN)
        .body(email.body.clone())?)
}
