//! Every route of the portal, walked as anonymous, applicant A, applicant B, distribuidora X (the
//! company of A's request), distribuidora Y, SEC auditor and SEC administrador, against the
//! rules of SECURITY.md: anonymous visitors are sent to the login page, another user's or
//! company's record and another profile's page answer 404, an auditor trying an administrator
//! action gets 403, and no state-changing request passes without its CSRF token.
//!
//! The routes are read from the router's source (`.route("…"` or `.route(CONSTANT` in
//! src/web): a route added there without an entry in `TABLE` fails `every_route_has_an_entry`.

use std::collections::BTreeSet;

use axum::http::StatusCode;

use crate::requests::hidden;
use crate::support::{Browser, PASSWORD, TestApp, pdf, place};

/// Expected GET status for [anonymous, A, B, X, Y, auditor, administrador]; `None` for routes
/// without GET. 303 for anonymous always means "to /ingreso".
type Row = (&'static str, Option<[u16; 7]>);

const PUBLIC: [u16; 7] = [200, 200, 200, 200, 200, 200, 200];
const SIGNED_IN: [u16; 7] = [303, 200, 200, 200, 200, 200, 200];
const APPLICANTS: [u16; 7] = [303, 200, 200, 404, 404, 404, 404];
const COMPANIES: [u16; 7] = [303, 404, 404, 200, 200, 404, 404];
const SEC: [u16; 7] = [303, 404, 404, 404, 404, 200, 200];
const SEC_ADMIN_FORM: [u16; 7] = [303, 404, 404, 404, 404, 403, 200];
/// A's request: A, its company X and SEC see it; B and Y get 404.
const REQUEST: [u16; 7] = [303, 200, 404, 200, 404, 200, 200];

const TABLE: &[Row] = &[
    ("/", Some([303, 303, 303, 303, 303, 303, 303])),
    ("/healthz", Some(PUBLIC)),
    ("/static/{*path}", Some(PUBLIC)),
    ("/ingreso", Some([200, 303, 303, 303, 303, 303, 303])),
    ("/salir", None),
    ("/registro", Some(PUBLIC)),
    ("/registro/recibido", Some(PUBLIC)),
    ("/registro/reenviar", Some(PUBLIC)),
    ("/recuperar", Some(PUBLIC)),
    ("/recuperar/recibido", Some(PUBLIC)),
    ("/activar/{token}", Some(PUBLIC)),
    ("/clave/{token}", Some(PUBLIC)),
    ("/captcha/{id}", Some([404; 7])),
    ("/perfil", Some(SIGNED_IN)),
    ("/perfil/clave", Some(SIGNED_IN)),
    ("/enlaces", Some(SIGNED_IN)),
    (
        "/formularios/{id}",
        Some([303, 404, 404, 404, 404, 404, 404]),
    ),
    ("/solicitante", Some(APPLICANTS)),
    ("/solicitudes", Some(APPLICANTS)),
    ("/solicitudes/nueva/{kind}", Some(APPLICANTS)),
    ("/solicitudes/{id}", Some(REQUEST)),
    ("/solicitudes/{id}/imprimir", Some(REQUEST)),
    ("/solicitudes/{id}/adjuntos/{attachment}", Some(REQUEST)),
    (
        "/solicitudes/{id}/responder",
        Some([303, 404, 404, 200, 404, 404, 404]),
    ),
    ("/solicitudes/{id}/referencia", None),
    (
        "/solicitudes/{id}/pago",
        Some([303, 404, 404, 200, 404, 404, 404]),
    ),
    ("/solicitudes/{id}/pago/validar", None),
    ("/solicitudes/{id}/pago/rechazar", None),
    // No payment was asked for: A is told so (409); B cannot know the request exists.
    (
        "/solicitudes/{id}/pagar",
        Some([303, 409, 404, 404, 404, 404, 404]),
    ),
    ("/solicitudes/{id}/anular", Some(SEC_ADMIN_FORM_REQUEST)),
    ("/distribuidora", Some(COMPANIES)),
    ("/distribuidora/comunicacion", Some(COMPANIES)),
    ("/distribuidora/configuracion", Some(COMPANIES)),
    (
        "/distribuidora/configuracion/respuesta/{kind}",
        Some([303, 404, 404, 404, 404, 404, 404]),
    ),
    (
        "/distribuidora/configuracion/respuesta/{kind}/eliminar",
        None,
    ),
    ("/distribuidora/reporte", Some(COMPANIES)),
    ("/distribuidora/reporte.csv", Some(COMPANIES)),
    ("/distribuidora/reporte.xlsx", Some(COMPANIES)),
    ("/sec", Some(SEC)),
    ("/sec/graficos", Some(SEC)),
    ("/sec/cumplimiento", Some(SEC)),
    ("/sec/sabana", Some(SEC)),
    ("/sec/sabana.csv", Some(SEC)),
    ("/sec/sabana.xlsx", Some(SEC)),
    ("/sec/mensajes", Some(SEC)),
    ("/sec/mensajes/{key}", Some(SEC)),
    ("/sec/auditoria", Some(SEC)),
    ("/sec/auditoria.csv", Some(SEC)),
    ("/sec/admin", Some(SEC)),
    ("/sec/admin/usuarios", Some(SEC)),
    ("/sec/admin/usuarios/nuevo", Some(SEC_ADMIN_FORM)),
    ("/sec/admin/usuarios/{id}", Some(SEC)),
    ("/sec/admin/usuarios/{id}/deshabilitar", None),
    ("/sec/admin/usuarios/{id}/habilitar", None),
    ("/sec/admin/usuarios/{id}/enlace", None),
    ("/sec/admin/usuarios/{id}/eliminar", None),
    ("/sec/admin/empresas", Some(SEC)),
    ("/sec/admin/empresas/nueva", Some(SEC_ADMIN_FORM)),
    ("/sec/admin/empresas/{id}", Some(SEC)),
    ("/sec/admin/empresas/{id}/pago", None),
    (
        "/sec/admin/empresas/{id}/respuesta/{kind}",
        Some([303, 404, 404, 404, 404, 404, 404]),
    ),
    ("/sec/admin/empresas/{id}/respuesta/{kind}/eliminar", None),
    ("/sec/admin/feriados", Some(SEC)),
    ("/sec/admin/feriados/{day}/eliminar", None),
    ("/sec/admin/plazos", Some(SEC)),
    ("/sec/admin/enlaces", Some(SEC)),
    ("/sec/admin/enlaces/{id}", Some(SEC_ADMIN_FORM)),
    ("/sec/admin/enlaces/{id}/eliminar", None),
    ("/sec/admin/enlaces/{id}/mover", None),
    ("/sec/admin/formularios", None),
    ("/sec/admin/formularios/{id}/eliminar", None),
];

const SEC_ADMIN_FORM_REQUEST: [u16; 7] = [303, 404, 404, 404, 404, 403, 200];

/// The paths declared in the router's source.
fn declared_routes() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                // A file's unit tests (at its end, by the crate's habit) build routers of their
                // own that the portal does not serve.
                let served = source.split("#[cfg(test)]").next().unwrap_or_default();
                routes_in(served, &mut found);
            }
        }
    }
    found
}

fn routes_in(source: &str, found: &mut BTreeSet<String>) {
    for (index, _) in source.match_indices(".route(") {
        let rest = source[index + 7..].trim_start();
        if let Some(literal) = rest.strip_prefix('"') {
            found.insert(literal[..literal.find('"').unwrap()].to_string());
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            let marker = format!("const {name}: &str = \"");
            let start = source
                .find(&marker)
                .unwrap_or_else(|| panic!("route constant {name} not found"))
                + marker.len();
            found.insert(source[start..start + source[start..].find('"').unwrap()].to_string());
        }
    }
}

#[test]
fn every_route_has_an_entry() {
    let listed: BTreeSet<String> = TABLE.iter().map(|(path, _)| path.to_string()).collect();
    let declared = declared_routes();
    let missing: Vec<_> = declared.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the access table: {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&declared).collect();
    assert!(
        stale.is_empty(),
        "entries for routes that no longer exist: {stale:?}"
    );
}

struct Ids {
    request: String,
    attachment: String,
    applicant: String,
    company: String,
}

fn concrete(template: &str, ids: &Ids) -> String {
    template
        .replace("{*path}", "portal.css")
        .replace("{token}", "desconocido")
        .replace("{attachment}", &ids.attachment)
        .replace("{kind}", "si")
        .replace("{key}", "receipt.SI")
        .replace("{day}", "2025-09-18")
        .replace("/captcha/{id}", "/captcha/desconocido")
        .replace("/formularios/{id}", "/formularios/desconocido")
        .replace(
            "/solicitudes/{id}",
            &format!("/solicitudes/{}", ids.request),
        )
        .replace("/usuarios/{id}", &format!("/usuarios/{}", ids.applicant))
        .replace("/empresas/{id}", &format!("/empresas/{}", ids.company))
        .replace("/enlaces/{id}", "/enlaces/ayuda")
        .replace("{id}", "desconocido")
}

async fn actors(app: &TestApp) -> (Vec<Browser<'_>>, Ids) {
    app.create_user("solicitante", "13470539-6", "a@example.cl", None)
        .await;
    app.create_user("solicitante", "12345678-5", "b@example.cl", None)
        .await;
    app.create_user("distribuidora", "15123456-9", "x@enel.example", Some("EN"))
        .await;
    app.create_user(
        "distribuidora",
        "10000013-K",
        "y@colina.example",
        Some("CO"),
    )
    .await;
    app.create_user("sec", "9876543-3", "auditor@sec.example", None)
        .await;
    sqlx::query("UPDATE users SET regulator_role = 'auditor' WHERE email = 'auditor@sec.example'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.create_user("sec", "11111111-1", "admin@sec.example", None)
        .await;
    let logins = [
        None,
        Some(("applicant", "13470539-6")),
        Some(("applicant", "12345678-5")),
        Some(("distributor", "15123456-9")),
        Some(("distributor", "10000013-K")),
        Some(("regulator", "9876543-3")),
        Some(("regulator", "11111111-1")),
    ];
    let mut browsers = Vec::new();
    for (index, login) in logins.iter().enumerate() {
        let browser = app.browser_from(&format!("203.0.113.{}:4000", index + 1));
        browser.get("/ingreso").await;
        if let Some((profile, rut)) = login {
            assert_eq!(
                browser.login(profile, rut, PASSWORD).await.status,
                StatusCode::SEE_OTHER
            );
        }
        browsers.push(browser);
    }
    let (distributor, region, comuna) = place(app, "EN").await;
    let form = browsers[1].get("/solicitudes/nueva/si").await;
    let token = hidden(&form.body, "token");
    let fields = [
        ("token", token.as_str()),
        ("distributor_id", &distributor),
        ("region", &region),
        ("comuna", &comuna),
        ("client_number", "1"),
    ];
    let created = browsers[1]
        .post_multipart(
            "/solicitudes/nueva/si",
            &fields,
            &[("form", "f.pdf", &pdf())],
        )
        .await;
    let request = created
        .location()
        .trim_start_matches("/solicitudes/")
        .to_string();
    let attachment = sqlx::query_scalar("SELECT id FROM attachments")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let applicant = sqlx::query_scalar("SELECT id FROM users WHERE email = 'a@example.cl'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let ids = Ids {
        request,
        attachment,
        applicant,
        company: distributor,
    };
    (browsers, ids)
}

const NAMES: [&str; 7] = [
    "anonymous",
    "applicant A",
    "applicant B",
    "company X",
    "company Y",
    "auditor",
    "administrador",
];

#[tokio::test]
async fn every_route_answers_each_actor_as_security_md_says() {
    let app = TestApp::spawn().await;
    let (browsers, ids) = actors(&app).await;
    let mut wrong = Vec::new();
    for (template, expected) in TABLE {
        let path = concrete(template, &ids);
        if let Some(expected) = expected {
            for (actor, browser) in browsers.iter().enumerate() {
                let response = browser.get(&path).await;
                if response.status.as_u16() != expected[actor] {
                    wrong.push(format!(
                        "GET {path} as {}: {} (expected {})",
                        NAMES[actor], response.status, expected[actor]
                    ));
                } else if expected[actor] == 303
                    && actor == 0
                    && !response.location().starts_with("/ingreso")
                    && *template != "/"
                {
                    wrong.push(format!(
                        "GET {path} as anonymous: redirected to {}",
                        response.location()
                    ));
                }
            }
        }
        // No state change without the CSRF token, whoever asks (405: no POST handler at all).
        for (actor, browser) in browsers.iter().enumerate() {
            let response = browser.post_raw(&path, &[("x", "1")]).await;
            if !matches!(
                response.status,
                StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED
            ) {
                wrong.push(format!(
                    "POST {path} without CSRF as {}: {}",
                    NAMES[actor], response.status
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answers differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn auditors_cannot_administer_and_others_do_not_see_sec_actions() {
    let app = TestApp::spawn().await;
    let (browsers, ids) = actors(&app).await;
    let admin_posts = [
        "/sec/admin/usuarios/{id}/deshabilitar",
        "/sec/admin/usuarios/{id}/enlace",
        "/sec/admin/empresas/nueva",
        "/sec/admin/feriados",
        "/sec/admin/plazos",
        "/sec/admin/enlaces",
        "/sec/mensajes/{key}",
        "/solicitudes/{id}/anular",
    ];
    for template in admin_posts {
        let path = concrete(template, &ids);
        let auditor = browsers[5].post(&path, &[("comment", "x")]).await;
        assert_eq!(auditor.status, StatusCode::FORBIDDEN, "auditor POST {path}");
        for actor in 1..=4 {
            let other = browsers[actor].post(&path, &[("comment", "x")]).await;
            assert_eq!(
                other.status,
                StatusCode::NOT_FOUND,
                "{} POST {path}",
                NAMES[actor]
            );
        }
    }
    // Nothing changed.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM requests WHERE status = 'annulled'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE status = 'disabled'")
            .await,
        0
    );
}
