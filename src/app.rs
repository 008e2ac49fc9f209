//! Builds the application from settings: database, file storage, mail, router and background
//! workers. The binary, the tests and the benchmarks all start the portal through here.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use object_store::ObjectStore;
use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::files::store::FileStore;
use crate::mail::Transport;
use crate::mail::outbox::Outbox;
use crate::settings::Settings;
use crate::store::Db;
use crate::web::{self, AppState};

pub async fn state(settings: Settings, clock: SharedClock) -> anyhow::Result<AppState> {
    install_tls_provider();
    let storage = storage(&settings.storage_url)?;
    let local_root = local_root(&settings.storage_url);
    build_state(settings, clock, storage, local_root).await
}

/// [`state`] with a file store built by the caller (tests give an S3 client pointed at a
/// local S3-compatible server) instead of one built from `storage_url`. Uploads are copied
/// into it through the store's own interface.
pub async fn state_with_storage(
    settings: Settings,
    clock: SharedClock,
    storage: Arc<dyn ObjectStore>,
) -> anyhow::Result<AppState> {
    build_state(settings, clock, storage, None).await
}

async fn build_state(
    settings: Settings,
    clock: SharedClock,
    storage: Arc<dyn ObjectStore>,
    local_root: Option<std::path::PathBuf>,
) -> anyhow::Result<AppState> {
    install_tls_provider();
    let limits = crate::store::Limits {
        max_connections: settings.database_max_connections,
        timeout: settings.database_timeout,
        sqlite_busy_timeout: settings.sqlite_busy_timeout,
    };
    let db = Db::connect_with(&settings.database_url, limits).await?;
    let filled = crate::store::stats::fill_missing_answer_figures(&db)
        .await
        .context("computing the figures of answers given before they were kept")?;
    if filled > 0 {
        tracing::info!(requests = filled, "computed the figures of earlier answers");
    }
    let mut files = FileStore::new(storage.clone(), settings.data_dir.join("uploads-tmp"))
        .context("creating the upload scratch directory")?;
    if let Some(root) = local_root {
        files = files.with_local_root(root);
    }
    // Whatever a crash left half-received is of no use: no request refers to it.
    let leftovers = files
        .clean_scratch()
        .await
        .context("cleaning the upload scratch directory")?;
    if leftovers > 0 {
        tracing::info!(
            files = leftovers,
            "removed unfinished uploads left by an earlier run"
        );
    }
    let reports = crate::web::tabular::clean_report_scratch(&settings.data_dir)
        .await
        .context("cleaning the report scratch directory")?;
    if reports > 0 {
        tracing::info!(
            files = reports,
            "removed unfinished workbooks left by an earlier run"
        );
    }
    Ok(AppState {
        db,
        settings: Arc::new(settings),
        clock,
        storage,
        files: Arc::new(files),
        mail_wakeup: Arc::new(Notify::new()),
        faults: Arc::new(crate::faults::Faults::default()),
    })
}

/// Two TLS back-ends arrive through dependencies (ring, and aws-lc-rs through the S3 client);
/// rustls then cannot pick one by itself, so the process chooses ring once, for every client.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn router(state: AppState) -> Router {
    web::router(state)
}

/// The outbox worker for this state's database and mail settings.
pub fn outbox(state: &AppState) -> anyhow::Result<Outbox> {
    Ok(Outbox {
        db: state.db.clone(),
        transport: Transport::from_url(
            &state.settings.mail_url,
            state.settings.mail_timeout.unsigned_abs(),
        )?,
        clock: state.clock.clone(),
        from: state.settings.mail_from.clone(),
        wakeup: state.mail_wakeup.clone(),
    })
}

/// The directory of a `file://` storage URL, as [`storage`] opens it.
fn local_root(url: &str) -> Option<std::path::PathBuf> {
    url.strip_prefix("file://").map(std::path::PathBuf::from)
}

/// Local directory (`file:///…`) or S3-compatible bucket (`s3://bucket`, with the usual `AWS_*`
/// variables for region, credentials and endpoint).
pub fn storage(url: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    if let Some(path) = url.strip_prefix("file://") {
        std::fs::create_dir_all(path)
            .with_context(|| format!("creating the file storage directory {path}"))?;
        let local = object_store::local::LocalFileSystem::new_with_prefix(path)
            .context("opening the file storage directory")?
            .with_automatic_cleanup(true)
            .with_fsync(true);
        return Ok(Arc::new(local));
    }
    if url.starts_with("s3://") {
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()
            .context("configuring the S3 storage from PORTAL_STORAGE_URL and AWS_* variables")?;
        return Ok(Arc::new(s3));
    }
    anyhow::bail!("PORTAL_STORAGE_URL must start with file:// or s3://")
}

/// Serves until Ctrl-C or SIGTERM, with the outbox worker running beside the server.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let settings = state.settings.clone();
    if !settings.captcha {
        tracing::warn!(
            "the captcha is switched off (PORTAL_CAPTCHA=off): only for automated tests"
        );
    }
    let worker = outbox(&state)?;
    tokio::spawn(worker.run(settings.mail_poll_interval));
    tokio::spawn(crate::jobs::run(state.clone()));
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    tracing::info!(address = %settings.bind, base_url = %settings.base_url, "portal listening");
    crate::web::server::serve(listener, router(state), shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

pub fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match settings.log_format {
        crate::settings::LogFormat::Json => builder.json().try_init(),
        crate::settings::LogFormat::Text => builder.try_init(),
    };
}
