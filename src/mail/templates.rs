//! E-mail texts that SEC edits in the portal ("Modificar Mensajes"): a subject and a body with
//! named placeholders in braces, `{folio}`. Until SEC changes one, the built-in default applies.

use sqlx::Row;

use crate::domain::request::RequestKind;
use crate::store::Db;
use crate::store::outbox::OutgoingEmail;

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
            body: "Estimado(a) {solicitante}:\n\n{distribuidora} registró en su {formulario} {folio} \
                   la acción «{accion}» el {fecha}. Estado actual: {estado}.\n\n{comentario}\n\n\
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
        _ => return None,
    };
    Some(template)
}

/// The template for a key: SEC's version if there is one, else the default.
pub async fn load(db: &Db, key: &str) -> anyhow::Result<EmailTemplate> {
    let row = sqlx::query("SELECT subject, body FROM email_templates WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(row) => Ok(EmailTemplate {
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
        }),
        None => default_for(key).ok_or_else(|| anyhow::anyhow!("no e-mail template {key}")),
    }
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
