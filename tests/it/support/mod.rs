//! `TestApp`: the real router on a fresh database (SQLite in a temporary directory, or a new
//! PostgreSQL database when `PORTAL_TEST_POSTGRES_URL` is set), with a manual clock. Each
//! `Browser` is one user agent with its own cookie jar.

#![allow(dead_code)]

pub mod process;
pub mod proxy;
pub mod s3;
pub mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use portal::clock::ManualClock;
use portal::settings::Settings;
use portal::web::AppState;
use sqlx::Row;
use tower::ServiceExt;

pub const BASE_URL: &str = "http://portal.test";
/// A password that passes the policy, for tests that are not about passwords.
pub const PASSWORD: &str = "paneles solares sobre el techo";

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub clock: ManualClock,
    _dir: tempfile::TempDir,
    postgres: Option<PostgresDatabase>,
    listener: Mutex<Option<tokio::net::TcpListener>>,
}

pub fn postgres_url() -> Option<String> {
    std::env::var("PORTAL_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app with its data directory (files, scratch, e-mails and, on the SQLite run,
    /// the database) where the test says: to share it with a `portal` process, or to find
    /// there what an earlier run left.
    pub async fn spawn_in(data_dir: &std::path::Path) -> TestApp {
        Self::spawn_with(|settings| {
            let database_url = settings.database_url.clone();
            let postgres = settings.is_postgres();
            let base_url = settings.base_url.clone();
            *settings = Settings::in_data_dir(data_dir);
            settings.base_url = base_url;
            settings.captcha = false;
            if postgres {
                settings.database_url = database_url;
            }
        })
        .await
    }

    /// Starts the app after letting the test adjust the settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        Self::start(adjust, None).await
    }

    /// [`TestApp::spawn_with`] with the given file store instead of the one the settings name
    /// (which is copied into rather than renamed into, as an S3 bucket is).
    pub async fn spawn_with_storage(
        adjust: impl FnOnce(&mut Settings),
        storage: Arc<dyn object_store::ObjectStore>,
    ) -> TestApp {
        Self::start_with_storage(adjust, None, Some(storage)).await
    }

    /// Serves the app on a loopback port, for tests that drive a real browser.
    pub async fn spawn_served() -> TestApp {
        Self::spawn_served_with(|_| {}, None).await
    }

    /// Serves the app on a loopback port after letting the test adjust the settings, with the
    /// given file store instead of the one the settings name.
    pub async fn spawn_served_with(
        adjust: impl FnOnce(&mut Settings),
        storage: Option<Arc<dyn object_store::ObjectStore>>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Self::start_with_storage(
            |s| {
                s.base_url = format!("http://{address}").parse().unwrap();
                adjust(s);
            },
            Some(listener),
            storage,
        )
        .await;
        let router = app.router.clone();
        let listener = app.listener.lock().unwrap().take().unwrap();
        tokio::spawn(portal::web::server::serve(
            listener,
            router,
            std::future::pending(),
        ));
        app
    }

    pub fn base_url(&self) -> String {
        self.state
            .settings
            .base_url
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    async fn start(
        adjust: impl FnOnce(&mut Settings),
        listener: Option<tokio::net::TcpListener>,
    ) -> TestApp {
        Self::start_with_storage(adjust, listener, None).await
    }

    async fn start_with_storage(
        adjust: impl FnOnce(&mut Settings),
        listener: Option<tokio::net::TcpListener>,
        storage: Option<Arc<dyn object_store::ObjectStore>>,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = Settings::in_data_dir(dir.path());
        settings.base_url = BASE_URL.parse().unwrap();
        settings.captcha = false;
        let postgres = match postgres_url() {
            Some(url) => Some(PostgresDatabase::create(&url).await),
            None => None,
        };
        if let Some(pg) = &postgres {
            settings.database_url = pg.url.clone();
        }
        adjust(&mut settings);
        // A fixed Tuesday morning in Santiago, so that tests never depend on the real date.
        let clock = ManualClock::new("2025-03-04T13:00:00Z".parse().unwrap());
        let state = match storage {
            Some(storage) => {
                portal::app::state_with_storage(settings, Arc::new(clock.clone()), storage).await
            }
            None => portal::app::state(settings, Arc::new(clock.clone())).await,
        }
        .expect("the app starts");
        let router = portal::app::router(state.clone());
        TestApp {
            state,
            router,
            clock,
            _dir: dir,
            postgres,
            listener: Mutex::new(listener),
        }
    }

    pub fn browser(&self) -> Browser<'_> {
        self.browser_from("203.0.113.10:40000")
    }

    /// A browser with its own cookies, connecting from the given address.
    pub fn browser_from(&self, address: &str) -> Browser<'_> {
        Browser {
            app: self,
            cookies: Mutex::new(HashMap::new()),
            address: address.parse().unwrap(),
            remote: None,
        }
    }

    /// A browser that talks HTTP to running servers (`http://host:port`), taking them in turn
    /// request after request; this app serves only for database access and test data.
    pub fn remote_browser(&self, bases: &[String]) -> Browser<'_> {
        Browser {
            app: self,
            cookies: Mutex::new(HashMap::new()),
            address: "127.0.0.1:1".parse().unwrap(),
            remote: Some(Remote::new(bases)),
        }
    }

    pub fn advance(&self, by: SignedDuration) {
        self.clock.advance(by);
    }

    pub fn now(&self) -> Timestamp {
        use portal::clock::Clock;
        self.clock.now()
    }

    /// E-mails queued for an address, oldest first: (subject, body).
    pub async fn emails_to(&self, to: &str) -> Vec<(String, String)> {
        let rows = sqlx::query(
            "SELECT subject, body FROM outbox WHERE recipient = $1 ORDER BY created_at, id",
        )
        .bind(to)
        .fetch_all(self.state.db.pool())
        .await
        .unwrap();
        rows.iter()
            .map(|r| (r.get("subject"), r.get("body")))
            .collect()
    }

    /// The first portal link in the newest e-mail to an address, as a path.
    pub async fn link_in_last_email(&self, to: &str) -> String {
        let emails = self.emails_to(to).await;
        let (_, body) = emails.last().unwrap_or_else(|| panic!("no e-mail to {to}"));
        let base = self.base_url();
        let start = body
            .find(&base)
            .unwrap_or_else(|| panic!("no link in {body}"));
        let link: String = body[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        link.trim_start_matches(&base).to_string()
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query(sql)
            .fetch_one(self.state.db.pool())
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// Requests whose kept count of files or last movement (migration 0008) differs from
    /// what their attachments and history say.
    pub async fn requests_with_wrong_tallies(&self) -> i64 {
        self.count(
            "SELECT COUNT(*) FROM requests r WHERE r.attachment_count <> \
             (SELECT COUNT(*) FROM attachments a WHERE a.request_id = r.id) \
             OR COALESCE(r.last_event_at, -1) <> COALESCE(\
             (SELECT MAX(e.created_at) FROM request_events e WHERE e.request_id = r.id), -1)",
        )
        .await
    }

    /// Creates an active account directly, as `portal user add --password-stdin` would.
    pub async fn create_user(
        &self,
        profile: &str,
        rut: &str,
        email: &str,
        distributor: Option<&str>,
    ) {
        use portal::domain::{Email, Profile, Rut, password};
        let account = portal::accounts::NewAccount {
            profile: Profile::from_cli(profile).unwrap(),
            rut: Rut::parse(rut).unwrap(),
            email: Email::parse(email).unwrap(),
            names: "Nombre".to_string(),
            surnames: "De Prueba".to_string(),
            distributor_prefix: distributor.map(str::to_string),
            regulator_role: None,
        };
        let password = password::check(PASSWORD, PASSWORD, &[]).unwrap();
        portal::accounts::create(&self.state, &account, Some(password))
            .await
            .unwrap();
    }
}

pub struct Browser<'a> {
    pub app: &'a TestApp,
    cookies: Mutex<HashMap<String, String>>,
    address: SocketAddr,
    /// When set, requests go over real HTTP to these servers, in turn, instead of through the
    /// app's router in memory.
    remote: Option<Remote>,
}

/// Portal servers reached over TCP: one process, or several instances taken in turn.
struct Remote {
    bases: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
    client: reqwest::Client,
}

impl Remote {
    fn new(bases: &[String]) -> Remote {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Remote {
            bases: bases.to_vec(),
            next: std::sync::atomic::AtomicUsize::new(0),
            client,
        }
    }

    /// Sends the request to the next server in turn: (status, headers, body).
    async fn exchange(
        &self,
        request: Request<Body>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), String> {
        use std::sync::atomic::Ordering;
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len();
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        let url = format!("{}{}", self.bases[turn], parts.uri);
        let response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| format!("{e:?}"))?;
        Ok((status, headers, bytes.to_vec()))
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) {
        assert_eq!(
            self.status,
            StatusCode::SEE_OTHER,
            "expected a redirect to {to}, got:\n{}",
            self.body
        );
        assert_eq!(self.location(), to);
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) {
        assert!(
            self.body.contains(text),
            "expected {text:?} in the page:\n{}",
            self.body
        );
    }
}

impl Browser<'_> {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_string(), value.to_string());
    }

    pub fn csrf(&self) -> String {
        self.cookie("portal_csrf")
            .expect("a page was loaded first, which sets the CSRF cookie")
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        self.try_send(request)
            .await
            .unwrap_or_else(|error| panic!("no response: {error}"))
    }

    /// Sends a request with this browser's cookies and keeps the cookies it sets; an error
    /// when no response came (only possible over real HTTP, e.g. the server died).
    pub async fn try_send(&self, request: Request<Body>) -> Result<TestResponse, String> {
        let (status, headers, bytes) = self.exchange(request).await?;
        Ok(TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// One request and its response, with the cookie jar applied both ways.
    async fn exchange(
        &self,
        mut request: Request<Body>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), String> {
        let cookie_header: String = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !cookie_header.is_empty() {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie_header.parse().unwrap());
        }
        let (status, headers, bytes) = match &self.remote {
            Some(remote) => remote.exchange(request).await?,
            None => {
                request.extensions_mut().insert(ConnectInfo(self.address));
                let response = self.app.router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap();
                (status, headers, bytes.to_vec())
            }
        };
        for value in headers.get_all(header::SET_COOKIE) {
            let parsed = cookie::Cookie::parse(value.to_str().unwrap().to_string()).unwrap();
            let removed = parsed
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative());
            let mut jar = self.cookies.lock().unwrap();
            if removed {
                jar.remove(parsed.name());
            } else {
                jar.insert(parsed.name().to_string(), parsed.value().to_string());
            }
        }
        Ok((status, headers, bytes))
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// Posts a URL-encoded form with this browser's CSRF token, loading a page first if needed.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        if self.cookie("portal_csrf").is_none() {
            self.get("/ingreso").await;
        }
        let csrf = self.csrf();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly the given fields: no CSRF token added.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Posts a multipart form (text fields, then files as (field, file name, bytes)), with the
    /// CSRF token in the action's query as the portal's upload forms do.
    pub async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> TestResponse {
        self.try_post_multipart(path, fields, files)
            .await
            .unwrap_or_else(|error| panic!("no response: {error}"))
    }

    /// `post_multipart`, with an error instead of a panic when no response came.
    pub async fn try_post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Result<TestResponse, String> {
        if self.cookie("portal_csrf").is_none() {
            self.get("/ingreso").await;
        }
        let boundary = "----portal-test-boundary-7d1f";
        let mut body: Vec<u8> = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        for (name, file_name, bytes) in files {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let separator = if path.contains('?') { '&' } else { '?' };
        let request = Request::post(format!("{path}{separator}csrf={}", self.csrf()))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap();
        self.try_send(request).await
    }

    /// Registers an applicant with valid data and returns the response.
    pub async fn register(&self, rut: &str, email: &str) -> TestResponse {
        self.get("/registro").await;
        self.post(
            "/registro",
            &[
                ("rut", rut),
                ("names", "Ana María"),
                ("surnames", "Pérez Soto"),
                ("email", email),
                ("password", PASSWORD),
                ("password_confirmation", PASSWORD),
            ],
        )
        .await
    }

    pub async fn login(&self, profile: &str, rut: &str, password: &str) -> TestResponse {
        self.get("/ingreso").await;
        self.post(
            "/ingreso",
            &[("perfil", profile), ("rut", rut), ("password", password)],
        )
        .await
    }

    /// Registers, activates through the e-mailed link and logs in.
    pub async fn sign_up_and_login(&self, rut: &str, email: &str) {
        self.register(rut, email)
            .await
            .assert_redirect("/registro/recibido");
        let link = self.app.link_in_last_email(email).await;
        self.post(&link, &[]).await.assert_redirect("/ingreso");
        self.login("applicant", rut, PASSWORD)
            .await
            .assert_redirect("/solicitante");
    }
}

/// A small but real PDF.
pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// A PNG signature and header chunk: enough for content detection.
pub fn png() -> Vec<u8> {
    let mut bytes =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde".to_vec();
    bytes.extend_from_slice(b"\0\0\0\0IEND\xaeB`\x82");
    bytes
}

/// The id of the first company with this folio prefix, the first región and one of its comunas.
pub async fn place(app: &TestApp, prefix: &str) -> (String, String, String) {
    let distributor: String =
        sqlx::query_scalar("SELECT id FROM distributors WHERE folio_prefix = $1")
            .bind(prefix)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    (distributor, "13".to_string(), "13101".to_string())
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    pub async fn create(admin_url: &str) -> PostgresDatabase {
        use sqlx::Connection;
        let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("PORTAL_TEST_POSTGRES_URL answers");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        PostgresDatabase {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; the clean-up gets a runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

// ---- The four requests: filling a form, and what a submission leaves behind. ----

/// A megabyte as the portal counts it.
pub const MIB: usize = 1_048_576;

/// The file slots each form requires, by the kind's code in the URL.
pub fn required_slots(kind: &str) -> &'static [&'static str] {
    match kind {
        "nc" => &[
            "form",
            "installer_id",
            "contract",
            "property_certificate",
            "te4",
        ],
        _ => &["form"],
    }
}

/// A new request's form as a browser fills it: the one-time token of the page, "Datos
/// Generales" for Enel Distribución with a client number, and the chosen files.
pub struct RequestForm {
    pub kind: &'static str,
    pub fields: Vec<(String, String)>,
    pub files: Vec<(String, String, Vec<u8>)>,
}

impl RequestForm {
    /// Opens `/solicitudes/nueva/{kind}` and fills the general data; no files yet.
    pub async fn open(browser: &Browser<'_>, kind: &'static str) -> RequestForm {
        let page = browser.get(&format!("/solicitudes/nueva/{kind}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let token = hidden_value(&page.body, "token");
        let (distributor, region, comuna) = place(browser.app, "EN").await;
        let fields = [
            ("token", token),
            ("distributor_id", distributor),
            ("region", region),
            ("comuna", comuna),
            ("client_number", "123456-7".to_string()),
        ];
        RequestForm {
            kind,
            fields: fields.map(|(k, v)| (k.to_string(), v)).to_vec(),
            files: Vec::new(),
        }
    }

    /// Sets a text field, replacing any earlier value.
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.to_string(), value.to_string()));
        self
    }

    pub fn without_field(mut self, name: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self
    }

    /// Chooses a file for a slot, replacing any earlier choice.
    pub fn file(mut self, slot: &str, name: &str, bytes: &[u8]) -> Self {
        self.files.retain(|(s, _, _)| s != slot);
        self.files
            .push((slot.to_string(), name.to_string(), bytes.to_vec()));
        self
    }

    pub fn without_file(mut self, slot: &str) -> Self {
        self.files.retain(|(s, _, _)| s != slot);
        self
    }

    /// A small PDF in every slot the form requires.
    pub fn complete(self) -> Self {
        let kind = self.kind;
        required_slots(kind).iter().fold(self, |form, slot| {
            form.file(slot, &format!("{slot}.pdf"), &pdf())
        })
    }

    pub fn token(&self) -> &str {
        self.value("token").unwrap_or_default()
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// "Grabar".
    pub async fn post(&self, browser: &Browser<'_>) -> TestResponse {
        self.try_post(browser)
            .await
            .unwrap_or_else(|error| panic!("no response: {error}"))
    }

    /// "Grabar", with an error instead of a panic when no response came.
    pub async fn try_post(&self, browser: &Browser<'_>) -> Result<TestResponse, String> {
        let fields: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let files: Vec<(&str, &str, &[u8])> = self
            .files
            .iter()
            .map(|(s, n, b)| (s.as_str(), n.as_str(), b.as_slice()))
            .collect();
        browser
            .try_post_multipart(
                &format!("/solicitudes/nueva/{}", self.kind),
                &fields,
                &files,
            )
            .await
    }
}

/// The value of a hidden input of a page.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

/// The message shown beside a field of a form sent back with errors, as HTML text.
pub fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("<p class=\"field-error\" id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")?;
    Some(html[start..start + end].to_string())
}

/// The id of a request from the redirect after "Grabar" (`/solicitudes/{id}`).
pub fn request_id(location: &str) -> String {
    location
        .strip_prefix("/solicitudes/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .unwrap_or_else(|| panic!("not a request view: {location:?}"))
        .to_string()
}

/// The download links of a request view, in the order listed.
pub fn attachment_links(html: &str) -> Vec<String> {
    html.match_indices("href=\"/solicitudes/")
        .map(|(at, _)| {
            let start = at + "href=\"".len();
            html[start..]
                .chars()
                .take_while(|c| *c != '"')
                .collect::<String>()
        })
        .filter(|href| href.contains("/adjuntos/"))
        .collect()
}

/// The folio shown in a request view's identifiers table.
pub fn folio_in_view(html: &str) -> String {
    let start = html.find("<table class=\"ids\">").expect("the ids table");
    let cells: Vec<&str> = html[start..].split("<td>").skip(1).take(2).collect();
    cells[1].split("</td>").next().unwrap().to_string()
}

/// The download link listed right after a document's file name (as shown, escaped).
pub fn document_link(html: &str, shown_name: &str) -> String {
    let name = format!("<span class=\"doc-name\">{shown_name}</span> <a href=\"");
    let start = html
        .find(&name)
        .unwrap_or_else(|| panic!("no document named {shown_name} in:\n{html}"))
        + name.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

/// A valid RUT (with its módulo 11 check digit) for a number below 50.000.000.
pub fn rut_for(number: u32) -> String {
    let mut sum = 0;
    for (index, digit) in number.to_string().chars().rev().enumerate() {
        sum += digit.to_digit(10).unwrap() * (2 + (index as u32 % 6));
    }
    let check = match 11 - sum % 11 {
        11 => "0".to_string(),
        10 => "K".to_string(),
        digit => digit.to_string(),
    };
    format!("{number}-{check}")
}

impl TestApp {
    /// A new applicant, logged in, in a browser of their own.
    pub async fn applicant(&self, number: u32) -> Browser<'_> {
        let rut = rut_for(number);
        self.create_user("solicitante", &rut, &format!("s{number}@example.cl"), None)
            .await;
        let browser = self.browser();
        browser
            .login("applicant", &rut, PASSWORD)
            .await
            .assert_redirect("/solicitante");
        browser
    }

    /// Every file in the attachment storage, however deep.
    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        let url = &self.state.settings.storage_url;
        let root = url
            .strip_prefix("file://")
            .unwrap_or_else(|| panic!("tests use a local store, not {url}"));
        files_under(std::path::Path::new(root))
    }

    /// Every file left in the upload scratch directory.
    pub fn scratch_files(&self) -> Vec<std::path::PathBuf> {
        files_under(&self.state.settings.data_dir.join("uploads-tmp"))
    }

    /// Rows of a table, for "nothing was created" checks.
    pub async fn rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(self.state.db.pool())
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// Asserts that no request, attachment, history entry, used form token or stored file
    /// exists, and that no upload is left in the scratch directory; `case` names the check.
    pub async fn assert_nothing_stored(&self, case: &str) {
        for table in [
            "requests",
            "attachments",
            "request_events",
            "submission_tokens",
        ] {
            assert_eq!(self.rows(table).await, 0, "{table} after {case}");
        }
        assert_eq!(
            self.stored_files(),
            Vec::<std::path::PathBuf>::new(),
            "{case}"
        );
        assert_eq!(
            self.scratch_files(),
            Vec::<std::path::PathBuf>::new(),
            "{case}"
        );
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

impl Browser<'_> {
    /// A GET whose body is kept as bytes (downloads), with this browser's cookies.
    pub async fn get_bytes(&self, path: &str) -> RawResponse {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let (status, headers, body) = self
            .exchange(request)
            .await
            .unwrap_or_else(|error| panic!("no response: {error}"));
        RawResponse {
            status,
            headers,
            body,
        }
    }
}

/// A PDF of exactly `size` bytes: a real header, then padding.
pub fn pdf_of_size(size: usize) -> Vec<u8> {
    let mut bytes = pdf();
    assert!(size >= bytes.len());
    bytes.resize(size, b' ');
    bytes
}

/// A Windows executable's first bytes, padded: what an `.exe` renamed `.pdf` looks like.
pub fn windows_executable() -> Vec<u8> {
    let mut bytes = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xFF\xFF\x00\x00".to_vec();
    bytes.extend_from_slice(
        b"\xB8\0\0\0\0\0\0\0@\0\0\0This program cannot be run in DOS mode.\r\r\n$",
    );
    bytes.resize(4096, 0);
    bytes
}

/// A minimal Word document: the content types, the relationships and the main part, plus
/// `extra` parts, deflated.
pub fn docx(extra: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    const CONTENT_TYPES: &str = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#,
        r#"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#,
        r#"<Default Extension="xml" ContentType="application/xml"/>"#,
        r#"<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>"#,
        "</Types>",
    );
    const RELS: &str = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
        r#"<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>"#,
        "</Relationships>",
    );
    const DOCUMENT: &str = concat!(
        r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">"#,
        "<w:body><w:p><w:r><w:t>Formulario</w:t></w:r></w:p></w:body></w:document>",
    );
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let parts: [(&str, &[u8]); 3] = [
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("word/document.xml", DOCUMENT.as_bytes()),
    ];
    for (name, content) in parts.iter().chain(extra) {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}
