//! E-mail texts that SEC edits in the portal ("Modificar Mensajes"): a subject and a body with
//! named placeholders in braces, `{folio}`. Until SEC changes one, the built-in default applies.

use jiff::Timestamp;
use sqlx::{Executor, Row};

use crate::clock::to_micros;
use crate::domain::request::RequestKind;
use crate::store::outbox::OutgoingEmail;
use crate::store::{Any, Db};

/// A text with placeholders, before values are put in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailTemplate {
    pub subject: String,
    pub body: String,
}

/// The placeholders every request notification can use.
pub const REQUEST_PLACEHOLDERS: [&str; 7] = [
    "folio",
    "formulario",
    "solicitante",
    "distribuidora",
    "fecha",
    "plazo",
    "enlace",
];

/// The key of the submission receipt ("auto respuesta") of a request kind.
pub fn receipt_key(kind: RequestKind) -> String {
    format!("receipt.{}", kind.code())
}

pub const NEW_REQUEST_KEY: &str = "distributor.new_request";
/// A company's "Comunicación", to the applicant and the additional e-mail.
pub const MESSAGE_KEY: &str = "applicant.message";
/// The placeholders of [`MESSAGE_KEY`].
pub const MESSAGE_PLACEHOLDERS: [&str; 4] = ["folio", "distribuidora", "comentario", "enlace"];
/// Every transition, to the applicant and the additional e-mail.
pub const STATUS_CHANGED_KEY: &str = "applicant.status_changed";
/// A new proof of payment, to the company's users.
pub const PAYMENT_PROOF_KEY: &str = "distributor.payment_proof";
/// SEC annulled a request, to the company's active users.
pub const REQUEST_ANNULLED_KEY: &str = "distributor.request_annulled";
/// The daily reminder of requests due within 2 business days or overdue, to a company's users.
pub const REMINDER_KEY: &str = "distributor.reminder";
/// The placeholders of [`REMINDER_KEY`]; `solicitudes` is one line per request.
pub const REMINDER_PLACEHOLDERS: [&str; 5] = [
    "distribuidora",
    "fecha",
    "cantidad",
    "solicitudes",
    "enlace",
];
/// The weekly digest of overdue requests per company, to every active SEC user.
pub const OVERDUE_DIGEST_KEY: &str = "regulator.overdue_digest";
/// The placeholders of [`OVERDUE_DIGEST_KEY`]; `detalle` is a block per company.
pub const OVERDUE_DIGEST_PLACEHOLDERS: [&str; 4] = ["fecha", "cantidad", "detalle", "enlace"];
/// The placeholders of [`STATUS_CHANGED_KEY`] and [`PAYMENT_PROOF_KEY`]: what the workflow
/// fills in for a transition (no deadline: it changes with the status).
pub const TRANSITION_PLACEHOLDERS: [&str; 9] = [
    "folio",
    "formulario",
    "solicitante",
    "distribuidora",
    "fecha",
    "accion",
    "estado",
    "comentario",
    "enlace",
];

/// A text SEC may edit, as the console lists it.
#[derive(Clone, Debug)]
pub struct TemplateInfo {
    pub key: String,
    pub title: String,
    /// The only names the sender fills in; any other would reach the reader as typed.
    pub placeholders: &'static [&'static str],
}

/// The editable notifications beside the receipts: key, title, placeholders.
const NOTICES: [(&str, &str, &[&str]); 7] = [
    (
        NEW_REQUEST_KEY,
        "Nueva solicitud (a la distribuidora)",
        &REQUEST_PLACEHOLDERS,
    ),
    (
        STATUS_CHANGED_KEY,
        "Cambio de estado (al solicitante)",
        &TRANSITION_PLACEHOLDERS,
    ),
    (
        PAYMENT_PROOF_KEY,
        "Comprobante de pago (a la distribuidora)",
        &TRANSITION_PLACEHOLDERS,
    ),
    (
        MESSAGE_KEY,
        "Comunicación de la distribuidora (al solicitante)",
        &MESSAGE_PLACEHOLDERS,
    ),
    (
        REQUEST_ANNULLED_KEY,
        "Solicitud anulada (a la distribuidora)",
        &TRANSITION_PLACEHOLDERS,
    ),
    (
        REMINDER_KEY,
        "Recordatorio de plazos (a la distribuidora)",
        &REMINDER_PLACEHOLDERS,
    ),
    (
        OVERDUE_DIGEST_KEY,
        "Resumen semanal de vencidas (a la SEC)",
        &OVERDUE_DIGEST_PLACEHOLDERS,
    ),
];

/// Every editable text: the receipt of each request kind, then the notifications.
pub fn editable() -> Vec<TemplateInfo> {
    let receipts = RequestKind::ALL.map(|kind| TemplateInfo {
        key: receipt_key(kind),
        title: format!("Auto respuesta: {}", kind.label()),
        placeholders: &REQUEST_PLACEHOLDERS,
    });
    let notices = NOTICES.map(|(key, title, placeholders)| TemplateInfo {
        key: key.to_string(),
        title: title.to_string(),
        placeholders,
    });
    receipts.into_iter().chain(notices).collect()
}

/// Refuses a placeholder the sender does not fill in, or a brace left open: caught when SEC
/// saves, instead of reaching applicants as `{flio}`. The message names the culprit.
pub fn validate(text: &str, allowed: &[&str]) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "Falta cerrar la llave en «{}». Escriba cada marcador entre llaves, por ejemplo \
                 {{folio}}.",
                shortened(&rest[start..])
            ));
        };
        let name = &after[..end];
        if !allowed.contains(&name) {
            let known: Vec<String> = allowed.iter().map(|p| format!("{{{p}}}")).collect();
            let (name, known) = (shortened(name), known.join(", "));
            return Err(format!("El marcador {{{name}}} no existe. Use: {known}."));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// The start of a fragment quoted in a message, on one line.
fn shortened(fragment: &str) -> String {
    let line = fragment.lines().next().unwrap_or_default();
    match line.char_indices().nth(30) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

fn default_for(key: &str) -> Option<EmailTemplate> {
    let receipt = |what: &str, next: &str| EmailTemplate {
        subject: format!("Recibimos su {what} {{folio}}"),
        body: format!(
            "Estimado(a) {{solicitante}}:\n\n\
             Su {what} fue recibida por el portal Generación Ciudadana el {{fecha}} y enviada a \
             {{distribuidora}} con el folio {{folio}}.\n\n{next}\n\n\
             Puede seguir su solicitud en:\n{{enlace}}\n\nGeneración Ciudadana\n"
        ),
    };
    let template = match key {
        "receipt.SI" => receipt("Solicitud de Información", "La distribuidora debe responder a más tardar el {plazo}."),
        "receipt.SC" => receipt("Solicitud de Conexión", "La distribuidora debe responder a más tardar el {plazo}."),
        "receipt.MC" => receipt("Manifestación de Conformidad", "Esta manifestación no tiene un plazo de respuesta."),
        "receipt.NC" => receipt("Notificación de Conexión", "La distribuidora debe responder a más tardar el {plazo}."),
        NEW_REQUEST_KEY => EmailTemplate {
            subject: "Nueva {formulario} {folio}".to_string(),
            body: "Se recibió una nueva {formulario} para {distribuidora} el {fecha}, con el folio \
                   {folio}. Plazo de respuesta: {plazo}.\n\nRevísela en:\n{enlace}\n\nGeneración Ciudadana\n"
                .to_string(),
        },
        STATUS_CHANGED_KEY => EmailTemplate {
            subject: "{formulario} {folio}: {estado}".to_string(),
            body: "Estimado(a) {solicitante}:\n\nSu {formulario} {folio} dirigida a {distribuidora} \
                   registró la acción «{accion}» el {fecha}. Estado actual: {estado}.\n\n{comentario}\n\n\
                   Revise el detalle en:\n{enlace}\n\nGeneración Ciudadana\n"
                .to_string(),
        },
        PAYMENT_PROOF_KEY => EmailTemplate {
            subject: "Comprobante de pago recibido: {folio}".to_string(),
            body: "El solicitante de la {formulario} {folio} envió un comprobante de pago el {fecha}. \
                   Debe validarlo o rechazarlo dentro de 2 días hábiles.\n\nRevíselo en:\n{enlace}\n\n\
                   Generación Ciudadana\n"
                .to_string(),
        },
        MESSAGE_KEY => EmailTemplate {
            subject: "Comunicación de {distribuidora} sobre su solicitud {folio}".to_string(),
            body: "{distribuidora} le envió la siguiente comunicación sobre su solicitud con folio \
                   {folio}:\n\n{comentario}\n\nPuede ver la solicitud y sus documentos en:\n\
                   {enlace}\n\nGeneración Ciudadana\n"
                .to_string(),
        },
        REQUEST_ANNULLED_KEY => EmailTemplate {
            subject: "Solicitud anulada por la SEC: {folio}".to_string(),
            body: "La Superintendencia de Electricidad y Combustibles anuló el {fecha} la \
                   {formulario} {folio} de {solicitante}, dirigida a {distribuidora}. Estado \
                   actual: {estado}.\n\nMotivo de la anulación:\n{comentario}\n\nLa solicitud \
                   ya no admite respuestas, pagos ni comunicaciones. Puede consultarla en:\n\
                   {enlace}\n\nGeneración Ciudadana\n"
                .to_string(),
        },
        REMINDER_KEY => EmailTemplate {
            subject: "Recordatorio de plazos: {distribuidora}".to_string(),
            body: "Solicitudes de {distribuidora} que vencen dentro de 2 días hábiles o ya \
                   vencieron, al {fecha}: {cantidad}.\n\n{solicitudes}\n\nRevíselas en:\n\
                   {enlace}\n\nGeneración Ciudadana\n"
                .to_string(),
        },
        OVERDUE_DIGEST_KEY => EmailTemplate {
            subject: "Resumen semanal de plazos vencidos al {fecha}".to_string(),
            body: "Solicitudes sin respuesta con plazo vencido al {fecha}: {cantidad}.\n\n\
                   Por distribuidora:\n\n{detalle}\n\nRevise el cumplimiento de plazos en:\n\
                   {enlace}\n\nGeneración Ciudadana\n"
                .to_string(),
        },
        _ => return None,
    };
    Some(template)
}

/// The template for a key: SEC's version if there is one, else the default.
///
/// Inside a transaction, pass the transaction: a second connection taken from the pool while
/// one is held can wait forever when every connection is held the same way.
pub async fn load<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
) -> anyhow::Result<EmailTemplate> {
    let row = sqlx::query("SELECT subject, body FROM email_templates WHERE key = $1")
        .bind(key)
        .fetch_optional(db)
        .await?;
    match row {
        Some(row) => Ok(EmailTemplate {
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
        }),
        None => default_for(key).ok_or_else(|| anyhow::anyhow!("no e-mail template {key}")),
    }
}

/// Stores SEC's version of a text, replacing an earlier one.
pub async fn save<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    subject: &str,
    body: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_templates (key, subject, body, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET subject = excluded.subject, body = excluded.body, \
         updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(subject)
    .bind(body)
    .bind(to_micros(now))
    .execute(db)
    .await?;
    Ok(())
}

/// Drops SEC's version, so that the default applies again. False when there was none.
pub async fn reset<'e>(db: impl Executor<'e, Database = Any>, key: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM email_templates WHERE key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The keys SEC has changed from their default.
pub async fn edited(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT key FROM email_templates")
        .fetch_all(db.pool())
        .await
}

impl EmailTemplate {
    /// Puts the values in. A placeholder without a value stays as typed, braces included, so a
    /// mistake is visible rather than silently blank.
    pub fn render(&self, to: &str, values: &[(&str, String)]) -> OutgoingEmail {
        OutgoingEmail {
            to: to.to_string(),
            // A subject is one line, whatever the values hold.
            subject: fill(&self.subject, values).replace(['\r', '\n'], " "),
            body: fill(&self.body, values),
        }
    }
}

fn fill(text: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(key, _)| *key == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[start..start + end + 2]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_named_placeholders_and_keeps_unknown_ones() {
        let values = [
            ("folio", "EN12".to_string()),
            ("solicitante", "Ana {folio}".to_string()),
        ];
        assert_eq!(
            fill("Folio {folio} de {solicitante}", &values),
            "Folio EN12 de Ana {folio}"
        );
        assert_eq!(fill("{otro} y {folio", &values), "{otro} y {folio");
        assert_eq!(fill("sin marcas", &values), "sin marcas");
    }

    #[test]
    fn every_kind_has_a_default_receipt_using_known_placeholders() {
        for kind in RequestKind::ALL {
            let template = default_for(&receipt_key(kind)).expect("a default");
            let email = template.render(
                "a@b.cl",
                &REQUEST_PLACEHOLDERS.map(|p| (p, "X".to_string())),
            );
            assert!(
                !email.body.contains('{') && !email.subject.contains('{'),
                "{}",
                email.body
            );
        }
    }

    #[test]
    fn the_message_default_uses_only_its_placeholders() {
        let template = default_for(MESSAGE_KEY).expect("a default");
        let values = MESSAGE_PLACEHOLDERS.map(|p| (p, "X".to_string()));
        let email = template.render("a@b.cl", &values);
        assert!(!email.body.contains('{') && !email.subject.contains('{'));
        assert!(email.body.contains("folio X:\n\nX\n"), "{}", email.body);
    }

    #[test]
    fn every_editable_default_uses_only_its_placeholders() {
        assert_eq!(editable().len(), 11);
        for info in editable() {
            let default = default_for(&info.key).expect("a default");
            let text = format!("{}\n{}", default.subject, default.body);
            assert_eq!(validate(&text, info.placeholders), Ok(()), "{}", info.key);
        }
    }

    #[test]
    fn validation_names_the_unknown_placeholder_or_the_open_brace() {
        let allowed = ["folio", "formulario"];
        let check = |text: &str| validate(text, &allowed).err().unwrap_or_default();
        assert_eq!(check("Folio {folio} de {formulario}, sin marcas }"), "");
        let unknown = "El marcador {nombre} no existe. Use: {folio}, {formulario}.";
        assert_eq!(check("Hola {nombre}"), unknown);
        let open = check("Folio {folio\nsiguiente");
        assert!(
            open.starts_with("Falta cerrar la llave en «{folio»."),
            "{open}"
        );
        let long = check(&format!("{{{}}}", "x".repeat(100)));
        assert!(long.starts_with(&format!("El marcador {{{}…}}", "x".repeat(30))));
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let template = EmailTemplate {
            subject: "Hola {solicitante}".to_string(),
            body: String::new(),
        };
        let email = template.render(
            "a@b.cl",
            &[("solicitante", "Ana\r\nBcc: x@y.cl".to_string())],
        );
        assert_eq!(email.subject, "Hola Ana  Bcc: x@y.cl");
    }
}
