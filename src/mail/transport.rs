//! Where e-mails go: `.eml` files in a directory (the default, for development and demos) or
//! an SMTP server (`smtp://`, `smtp://…?tls=required`, `smtps://`).

use std::time::Duration;

use anyhow::{Context, bail};
use lettre::message::header::ContentType;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::store::outbox::QueuedEmail;

/// Time allowed for one delivery attempt, so that a hanging server cannot hold the worker.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub enum Transport {
    Files(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Why an attempt failed, as far as retrying is concerned.
#[derive(Debug)]
pub enum SendError {
    /// Worth trying again later: connection refused, timeout, 4xx answers.
    Temporary(String),
    /// Will never work: 5xx answers, an address the library refuses.
    Permanent(String),
}

impl Transport {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            std::fs::create_dir_all(path)
                .with_context(|| format!("creating the mail directory {path}"))?;
            return Ok(Transport::Files(AsyncFileTransport::new(path)));
        }
        if url.starts_with("smtp://") || url.starts_with("smtps://") {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .context("PORTAL_MAIL_URL is not a valid SMTP URL")?
                .timeout(Some(SEND_TIMEOUT))
                .build();
            return Ok(Transport::Smtp(transport));
        }
        bail!("PORTAL_MAIL_URL must start with file://, smtp:// or smtps://")
    }

    pub async fn send(&self, from: &str, email: &QueuedEmail) -> Result<(), SendError> {
        let message = build(from, email).map_err(|e| SendError::Permanent(e.to_string()))?;
        let attempt = async {
            match self {
                Transport::Files(files) => files
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError::Temporary(format!("writing the .eml file: {e}"))),
                Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(e.to_string())
                    } else {
                        SendError::Temporary(e.to_string())
                    }
                }),
            }
        };
        match tokio::time::timeout(SEND_TIMEOUT + Duration::from_secs(5), attempt).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Temporary(
                "the mail server did not answer in time".to_string(),
            )),
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
