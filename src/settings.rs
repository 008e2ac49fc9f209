//! One typed settings struct, read once at start-up from defaults, an optional TOML file
//! (`PORTAL_CONFIG`) and `PORTAL_`-prefixed environment variables, which win over the file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::SignedDuration;
use serde::Deserialize;
use url::Url;

#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub storage_url: String,
    pub mail_url: String,
    pub mail_from: String,
    pub bind: SocketAddr,
    pub base_url: Url,
    pub captcha: bool,
    pub secure_cookies: bool,
    pub session_idle: SignedDuration,
    pub session_lifetime: SignedDuration,
    pub trust_forwarded_for: bool,
    pub footer_organization: String,
    pub contact_email: String,
    pub log_format: LogFormat,
    pub database_max_connections: u32,
    /// The longest a page waits for the database: for a connection (opening and checking it
    /// included) and, on PostgreSQL, for one statement. Past it the page answers 503.
    pub database_timeout: Duration,
    /// How long a SQLite write waits for another process's write lock before giving up.
    pub sqlite_busy_timeout: Duration,
    /// The longest the portal works on one request once its body has arrived; past it the
    /// visitor gets the 503 page instead of a page that never ends.
    pub request_timeout: Duration,
    pub mail_poll_interval: SignedDuration,
    /// The longest one delivery attempt may take (connect, conversation, answer); a mail server
    /// that hangs costs one attempt this long, which then counts as a temporary failure.
    pub mail_timeout: SignedDuration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The raw values as they arrive; every field optional so that defaults can depend on others
/// (the database lives in the data directory unless said otherwise).
#[derive(Debug, Default, Deserialize)]
struct Raw {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    storage_url: Option<String>,
    mail_url: Option<String>,
    mail_from: Option<String>,
    bind: Option<String>,
    base_url: Option<String>,
    captcha: Option<String>,
    secure_cookies: Option<String>,
    session_idle_minutes: Option<i64>,
    session_lifetime_hours: Option<i64>,
    trust_forwarded_for: Option<String>,
    footer_organization: Option<String>,
    contact_email: Option<String>,
    log_format: Option<String>,
    database_max_connections: Option<u32>,
    database_timeout_seconds: Option<i64>,
    sqlite_busy_timeout_ms: Option<i64>,
    request_timeout_seconds: Option<i64>,
    mail_poll_seconds: Option<i64>,
    mail_timeout_seconds: Option<i64>,
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
const DEFAULT_DATABASE_TIMEOUT_SECONDS: i64 = 10;
/// Longer than the database timeout, so that a database error (and the clean-up that follows
/// it) normally answers first; this deadline is the backstop for a connection that hangs.
const DEFAULT_REQUEST_TIMEOUT_SECONDS: i64 = 30;

impl Settings {
    /// Reads the process environment (and the file named by `PORTAL_CONFIG`, if any).
    pub fn from_env() -> anyhow::Result<Self> {
        let file = std::env::var("PORTAL_CONFIG").ok();
        Self::load(file.as_deref(), None)
    }

    /// Reads the given variables instead of the process environment (for tests and tools).
    pub fn from_map(vars: HashMap<String, String>) -> anyhow::Result<Self> {
        Self::load(None, Some(vars))
    }

    fn load(file: Option<&str>, vars: Option<HashMap<String, String>>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(config::File::new(path, config::FileFormat::Toml));
        }
        let environment = config::Environment::with_prefix("PORTAL")
            .prefix_separator("_")
            .source(vars.map(|v| v.into_iter().collect()));
        let raw: Raw = builder
            .add_source(environment)
            .build()
            .context("reading the settings")?
            .try_deserialize()
            .context("a setting has a value of the wrong type")?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> anyhow::Result<Self> {
        let data_dir = raw.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        let data = data_dir.display().to_string();
        let bind_text = raw.bind.unwrap_or_else(|| DEFAULT_BIND.to_string());
        let bind: SocketAddr = bind_text.parse().with_context(|| {
            format!("PORTAL_BIND must be an address and port, got {bind_text:?}")
        })?;
        let base_text = raw.base_url.unwrap_or_else(|| format!("http://{bind}"));
        let base_url = Url::parse(&base_text).with_context(|| {
            format!("PORTAL_BASE_URL must be an absolute URL, got {base_text:?}")
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host().is_none() {
            bail!("PORTAL_BASE_URL must be an http or https URL with a host");
        }
        let secure_cookies = match raw.secure_cookies.as_deref() {
            None | Some("auto") => base_url.scheme() == "https",
            Some(value) => on_off("PORTAL_SECURE_COOKIES", value)?,
        };
        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("PORTAL_LOG_FORMAT must be text or json, got {other:?}"),
        };
        let database_url = raw
            .database_url
            .unwrap_or_else(|| format!("sqlite://{data}/portal.db?mode=rwc"));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            bail!("PORTAL_DATABASE_URL must start with sqlite: or postgres:");
        }
        Ok(Settings {
            database_url,
            storage_url: raw
                .storage_url
                .unwrap_or_else(|| format!("file://{}/files", absolute(&data_dir))),
            mail_url: raw
                .mail_url
                .unwrap_or_else(|| format!("file://{}/mail", absolute(&data_dir))),
            mail_from: raw.mail_from.unwrap_or_else(|| {
                "Generación Ciudadana <no-responder@generacionciudadana.local>".to_string()
            }),
            bind,
            base_url,
            captcha: on_off("PORTAL_CAPTCHA", raw.captcha.as_deref().unwrap_or("on"))?,
            secure_cookies,
            session_idle: SignedDuration::from_mins(positive(
                "PORTAL_SESSION_IDLE_MINUTES",
                raw.session_idle_minutes,
                30,
            )?),
            session_lifetime: SignedDuration::from_hours(positive(
                "PORTAL_SESSION_LIFETIME_HOURS",
                raw.session_lifetime_hours,
                12,
            )?),
            trust_forwarded_for: on_off(
                "PORTAL_TRUST_FORWARDED_FOR",
                raw.trust_forwarded_for.as_deref().unwrap_or("off"),
            )?,
            footer_organization: raw.footer_organization.unwrap_or_else(|| {
                "SEC - Superintendencia de Electricidad y Combustibles".to_string()
            }),
            contact_email: raw
                .contact_email
                .unwrap_or_else(|| "generacionciudadana@sec.cl".to_string()),
            log_format,
            database_max_connections: raw.database_max_connections.unwrap_or(10).max(1),
            database_timeout: Duration::from_secs(
                positive(
                    "PORTAL_DATABASE_TIMEOUT_SECONDS",
                    raw.database_timeout_seconds,
                    DEFAULT_DATABASE_TIMEOUT_SECONDS,
                )?
                .unsigned_abs(),
            ),
            sqlite_busy_timeout: Duration::from_millis(
                positive(
                    "PORTAL_SQLITE_BUSY_TIMEOUT_MS",
                    raw.sqlite_busy_timeout_ms,
                    5_000,
                )?
                .unsigned_abs(),
            ),
            request_timeout: Duration::from_secs(
                positive(
                    "PORTAL_REQUEST_TIMEOUT_SECONDS",
                    raw.request_timeout_seconds,
                    DEFAULT_REQUEST_TIMEOUT_SECONDS,
                )?
                .unsigned_abs(),
            ),
            mail_poll_interval: SignedDuration::from_secs(positive(
                "PORTAL_MAIL_POLL_SECONDS",
                raw.mail_poll_seconds,
                5,
            )?),
            mail_timeout: SignedDuration::from_secs(positive(
                "PORTAL_MAIL_TIMEOUT_SECONDS",
                raw.mail_timeout_seconds,
                30,
            )?),
            data_dir,
        })
    }

    /// Defaults for everything, with the data directory given (demo, tests).
    pub fn in_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let raw = Raw {
            data_dir: Some(data_dir.into()),
            ..Raw::default()
        };
        Self::from_raw(raw).expect("defaults are valid")
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// An absolute link for e-mails, built from the configured base URL only.
    pub fn link(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn on_off(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => bail!("{name} must be on or off, got {value:?}"),
    }
}

fn positive(name: &str, value: Option<i64>, default: i64) -> anyhow::Result<i64> {
    match value {
        None => Ok(default),
        Some(v) if v > 0 => Ok(v),
        Some(v) => bail!("{name} must be a positive number, got {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_live_in_the_data_directory() {
        let settings = Settings::from_map(vars(&[])).unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert_eq!(settings.database_url, "sqlite://./data/portal.db?mode=rwc");
        assert!(
            settings.storage_url.starts_with("file:///")
                && settings.storage_url.ends_with("/data/files")
        );
        assert!(settings.mail_url.ends_with("/data/mail"));
        assert_eq!(settings.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.base_url.as_str(), "http://127.0.0.1:8080/");
        assert!(settings.captcha);
        assert!(!settings.secure_cookies);
        assert_eq!(settings.session_idle, SignedDuration::from_mins(30));
        assert_eq!(settings.log_format, LogFormat::Text);
        assert!(!settings.is_postgres());
        assert_eq!(settings.mail_timeout, SignedDuration::from_secs(30));
        assert_eq!(settings.database_timeout, Duration::from_secs(10));
        assert_eq!(settings.sqlite_busy_timeout, Duration::from_millis(5_000));
        assert_eq!(settings.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings = Settings::from_map(vars(&[
            ("PORTAL_DATA_DIR", "/srv/portal"),
            ("PORTAL_DATABASE_URL", "postgres://db.internal/portal"),
            ("PORTAL_BIND", "0.0.0.0:9000"),
            ("PORTAL_BASE_URL", "https://portal.example.cl"),
            ("PORTAL_CAPTCHA", "off"),
            ("PORTAL_SESSION_IDLE_MINUTES", "10"),
            ("PORTAL_LOG_FORMAT", "json"),
            ("PORTAL_MAIL_TIMEOUT_SECONDS", "7"),
            ("PORTAL_DATABASE_TIMEOUT_SECONDS", "3"),
            ("PORTAL_SQLITE_BUSY_TIMEOUT_MS", "250"),
            ("PORTAL_REQUEST_TIMEOUT_SECONDS", "20"),
        ]))
        .unwrap();
        assert_eq!(settings.database_timeout, Duration::from_secs(3));
        assert_eq!(settings.sqlite_busy_timeout, Duration::from_millis(250));
        assert_eq!(settings.request_timeout, Duration::from_secs(20));
        assert_eq!(settings.storage_url, "file:///srv/portal/files");
        assert!(settings.is_postgres());
        assert_eq!(settings.bind.port(), 9000);
        assert!(
            settings.secure_cookies,
            "https base URL turns secure cookies on"
        );
        assert!(!settings.captcha);
        assert_eq!(settings.session_idle, SignedDuration::from_mins(10));
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.mail_timeout, SignedDuration::from_secs(7));
        assert_eq!(
            settings.link("/activar/x"),
            "https://portal.example.cl/activar/x"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_name() {
        let cases = [
            ("PORTAL_CAPTCHA", "maybe", "PORTAL_CAPTCHA"),
            ("PORTAL_BIND", "localhost", "PORTAL_BIND"),
            ("PORTAL_BASE_URL", "ftp://x", "PORTAL_BASE_URL"),
            ("PORTAL_DATABASE_URL", "mysql://x", "PORTAL_DATABASE_URL"),
            (
                "PORTAL_SESSION_IDLE_MINUTES",
                "0",
                "PORTAL_SESSION_IDLE_MINUTES",
            ),
            ("PORTAL_LOG_FORMAT", "xml", "PORTAL_LOG_FORMAT"),
            (
                "PORTAL_MAIL_TIMEOUT_SECONDS",
                "0",
                "PORTAL_MAIL_TIMEOUT_SECONDS",
            ),
            (
                "PORTAL_DATABASE_TIMEOUT_SECONDS",
                "0",
                "PORTAL_DATABASE_TIMEOUT_SECONDS",
            ),
            (
                "PORTAL_SQLITE_BUSY_TIMEOUT_MS",
                "-5",
                "PORTAL_SQLITE_BUSY_TIMEOUT_MS",
            ),
        ];
        for (name, value, expected) in cases {
            let error = Settings::from_map(vars(&[(name, value)])).unwrap_err();
            assert!(
                format!("{error:#}").contains(expected),
                "{name}={value}: {error:#}"
            );
        }
    }
}
