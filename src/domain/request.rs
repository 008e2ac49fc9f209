//! The four requests (formularios), their statuses and the attachment slots of each form.

use crate::files::inspect::{self, FileError, FileKind, MIB};

/// The limit of every slot but the contract: 5 MB of 1,048,576 bytes.
pub const DEFAULT_MAX_BYTES: u64 = 5 * MIB;
/// The manual asks for the NC contract as a PDF "de menos de 1 Megabyte".
pub const CONTRACT_MAX_BYTES: u64 = MIB;

const ANY_DOCUMENT: &[FileKind] = &FileKind::ALL;
const PDF_ONLY: &[FileKind] = &[FileKind::Pdf];

const POWER_NEEDS_ID: &str =
    "Si adjunta un Poder simple, adjunte también la Copia de cédula de identidad.";
const NOT_IN_FORM: &str = "Este documento no corresponde a este formulario.";

/// The kinds of request, in the legal order of one installation: SI → SC → MC → NC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Information,
    Connection,
    Conformity,
    ConnectionNotice,
}

impl RequestKind {
    pub const ALL: [RequestKind; 4] = [
        RequestKind::Information,
        RequestKind::Connection,
        RequestKind::Conformity,
        RequestKind::ConnectionNotice,
    ];

    /// The two-letter code stored in the database and shown in lists.
    pub fn code(self) -> &'static str {
        match self {
            RequestKind::Information => "SI",
            RequestKind::Connection => "SC",
            RequestKind::Conformity => "MC",
            RequestKind::ConnectionNotice => "NC",
        }
    }

    /// Exactly the stored code: `si` is refused, so that a typo in data is noticed.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            RequestKind::Information => "Solicitud de Información",
            RequestKind::Connection => "Solicitud de Conexión",
            RequestKind::Conformity => "Manifestación de Conformidad",
            RequestKind::ConnectionNotice => "Notificación de Conexión",
        }
    }

    /// Whether the form offers "No tengo Nro. de Cliente" and a Número de factibilidad
    /// instead: a new connection may not have a client number yet.
    pub fn allows_feasibility_number(self) -> bool {
        matches!(
            self,
            RequestKind::Connection | RequestKind::ConnectionNotice
        )
    }

    /// The seed of the deadline table the SEC administrator edits; read the table, not this,
    /// when computing a due date. `None`: no answer is due (MC starts as Enviado).
    pub fn default_deadline_days(self) -> Option<u32> {
        match self {
            RequestKind::Information => Some(10),
            RequestKind::Connection | RequestKind::ConnectionNotice => Some(20),
            RequestKind::Conformity => None,
        }
    }
}

/// The status of a request, as the manual names it. Which moves lead where is decided by the
/// workflow, not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Sent,
    PendingAnswer,
    PendingPayment,
    PendingValidation,
    PaymentRejected,
    PendingAnswerPaymentValidated,
    Answered,
    AutoAnswered,
    Annulled,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Sent,
        Status::PendingAnswer,
        Status::PendingPayment,
        Status::PendingValidation,
        Status::PaymentRejected,
        Status::PendingAnswerPaymentValidated,
        Status::Answered,
        Status::AutoAnswered,
        Status::Annulled,
    ];

    /// The stored value; never change one, the database CHECK constraint lists them.
    pub fn code(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::PendingAnswer => "pending_answer",
            Status::PendingPayment => "pending_payment",
            Status::PendingValidation => "pending_validation",
            Status::PaymentRejected => "payment_rejected",
            Status::PendingAnswerPaymentValidated => "pending_answer_payment_validated",
            Status::Answered => "answered",
            Status::AutoAnswered => "auto_answered",
            Status::Annulled => "annulled",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    /// The UI label, exactly as the manual writes it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Sent => "Enviado",
            Status::PendingAnswer => "Pendiente de Respuesta",
            Status::PendingPayment => "Pendiente de Pago",
            Status::PendingValidation => "Pendiente de Validación",
            Status::PaymentRejected => "Pago Rechazado",
            Status::PendingAnswerPaymentValidated => "Pendiente de Respuesta Pago Validado",
            Status::Answered => "Respondido",
            Status::AutoAnswered => "Respondido Automático",
            Status::Annulled => "Anulado",
        }
    }

    /// The answer clock stands still while the applicant owes a payment or a new proof of it.
    pub fn clock_paused(self) -> bool {
        matches!(self, Status::PendingPayment | Status::PaymentRejected)
    }
}

/// A place for one file in a form. The same slot may have a different label on each form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachmentSlot {
    Form,
    PowerOfAttorney,
    IdCopy,
    Other,
    InstallerId,
    Contract,
    PropertyCertificate,
    Te4,
    MeterAccuracy,
    MeterAuthorization,
    MeterDelivery,
}

impl AttachmentSlot {
    pub const ALL: [AttachmentSlot; 11] = [
        AttachmentSlot::Form,
        AttachmentSlot::PowerOfAttorney,
        AttachmentSlot::IdCopy,
        AttachmentSlot::Other,
        AttachmentSlot::InstallerId,
        AttachmentSlot::Contract,
        AttachmentSlot::PropertyCertificate,
        AttachmentSlot::Te4,
        AttachmentSlot::MeterAccuracy,
        AttachmentSlot::MeterAuthorization,
        AttachmentSlot::MeterDelivery,
    ];

    /// The stored value, also the name of the form field.
    pub fn code(self) -> &'static str {
        match self {
            AttachmentSlot::Form => "form",
            AttachmentSlot::PowerOfAttorney => "power_of_attorney",
            AttachmentSlot::IdCopy => "id_copy",
            AttachmentSlot::Other => "other",
            AttachmentSlot::InstallerId => "installer_id",
            AttachmentSlot::Contract => "contract",
            AttachmentSlot::PropertyCertificate => "property_certificate",
            AttachmentSlot::Te4 => "te4",
            AttachmentSlot::MeterAccuracy => "meter_accuracy",
            AttachmentSlot::MeterAuthorization => "meter_authorization",
            AttachmentSlot::MeterDelivery => "meter_delivery",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|slot| slot.code() == code)
    }
}

/// One slot as a given form shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSpec {
    slot: AttachmentSlot,
    label: &'static str,
    /// The message when a required slot is left empty; empty for optional slots.
    missing: &'static str,
    max_bytes: u64,
    allowed: &'static [FileKind],
}

impl SlotSpec {
    fn required(slot: AttachmentSlot, label: &'static str, missing: &'static str) -> Self {
        SlotSpec {
            slot,
            label,
            missing,
            max_bytes: DEFAULT_MAX_BYTES,
            allowed: ANY_DOCUMENT,
        }
    }

    fn optional(slot: AttachmentSlot, label: &'static str) -> Self {
        SlotSpec::required(slot, label, "")
    }

    pub fn slot(&self) -> AttachmentSlot {
        self.slot
    }

    /// The label of the file field, as DOMAIN.md lists it for this form.
    pub fn label(&self) -> &'static str {
        self.label
    }

    pub fn is_required(&self) -> bool {
        !self.missing.is_empty()
    }

    /// Inclusive: a file of exactly this many bytes is accepted.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn allowed(&self) -> &'static [FileKind] {
        self.allowed
    }

    /// The size and content checks of this slot, with messages that name its limit and types;
    /// `bytes` as [`inspect::check_upload`] takes them.
    pub fn check(&self, size: u64, bytes: &[u8]) -> Result<FileKind, FileError> {
        inspect::check_upload(size, bytes, self.allowed, self.max_bytes)
    }
}

/// The slots of a form, in display order: required first as DOMAIN.md lists them. The meter
/// slots exist only on an NC whose applicant checked "Voy a aportar el medidor bidireccional";
/// `brings_meter` is ignored for the other kinds.
pub fn slots(kind: RequestKind, brings_meter: bool) -> Vec<SlotSpec> {
    use AttachmentSlot as S;
    match kind {
        RequestKind::Information => vec![
            SlotSpec::required(
                S::Form,
                "Formulario de Solicitud de Información",
                "Adjunte el Formulario de Solicitud de Información.",
            ),
            SlotSpec::optional(S::PowerOfAttorney, "Poder simple"),
            SlotSpec::optional(S::IdCopy, "Copia cédula de identidad"),
            SlotSpec::optional(S::Other, "Otros documentos"),
        ],
        RequestKind::Connection => vec![
            SlotSpec::required(
                S::Form,
                "Formulario de Solicitud de Conexión",
                "Adjunte el Formulario de Solicitud de Conexión.",
            ),
            SlotSpec::optional(S::PowerOfAttorney, "Poder simple"),
            SlotSpec::optional(S::IdCopy, "Copia cédula de identidad"),
            SlotSpec::optional(S::Other, "Otro documento"),
        ],
        RequestKind::Conformity => vec![
            SlotSpec::required(
                S::Form,
                "Manifestación de Conformidad u otro",
                "Adjunte la Manifestación de Conformidad u otro documento.",
            ),
            SlotSpec::optional(S::Other, "Otros documentos"),
        ],
        RequestKind::ConnectionNotice => notice_slots(brings_meter),
    }
}

fn notice_slots(brings_meter: bool) -> Vec<SlotSpec> {
    use AttachmentSlot as S;
    let contract = SlotSpec {
        max_bytes: CONTRACT_MAX_BYTES,
        allowed: PDF_ONLY,
        ..SlotSpec::required(
            S::Contract,
            "Contrato firmado por el usuario o cliente final",
            "Adjunte el Contrato firmado por el usuario o cliente final.",
        )
    };
    let mut specs = vec![
        SlotSpec::required(
            S::Form,
            "Formulario de Notificación de Conexión",
            "Adjunte el Formulario de Notificación de Conexión.",
        ),
        SlotSpec::required(
            S::InstallerId,
            "Identificación del instalador",
            "Adjunte la Identificación del instalador.",
        ),
        contract,
        SlotSpec::required(
            S::PropertyCertificate,
            "Certificado de dominio vigente",
            "Adjunte el Certificado de dominio vigente.",
        ),
        SlotSpec::required(
            S::Te4,
            "Copia de declaración de puesta en servicio (TE4)",
            "Adjunte la Copia de declaración de puesta en servicio (TE4).",
        ),
        SlotSpec::optional(S::IdCopy, "Fotocopia cédula de identidad"),
        SlotSpec::optional(S::PowerOfAttorney, "Poder simple"),
        SlotSpec::optional(S::Other, "Otro documento"),
    ];
    if brings_meter {
        specs.extend(meter_slots());
    }
    specs
}

fn meter_slots() -> [SlotSpec; 3] {
    use AttachmentSlot as S;
    [
        SlotSpec::required(
            S::MeterAccuracy,
            "Comprobante de exactitud",
            "Adjunte el Comprobante de exactitud del medidor.",
        ),
        SlotSpec::required(
            S::MeterAuthorization,
            "Comprobante de autorización de comercialización",
            "Adjunte el Comprobante de autorización de comercialización del medidor.",
        ),
        SlotSpec::optional(S::MeterDelivery, "Comprobante de entrega del equipo"),
    ]
}

/// The slot of a form that an upload field names, if the form has it.
pub fn slot_spec(kind: RequestKind, brings_meter: bool, slot: AttachmentSlot) -> Option<SlotSpec> {
    slots(kind, brings_meter)
        .into_iter()
        .find(|spec| spec.slot == slot)
}

/// Whether the slots filled in (`present`) make a complete form: every required slot, the
/// Copia de cédula whenever a Poder simple is attached (the applicant acts for someone else),
/// and nothing in a slot the form does not have (a meter slot on an NC without the meter
/// option, say). The problems come in display order, each with the slot to show it beside.
pub fn check_attachments(
    kind: RequestKind,
    brings_meter: bool,
    present: &[AttachmentSlot],
) -> Result<(), Vec<(AttachmentSlot, &'static str)>> {
    let specs = slots(kind, brings_meter);
    let has = |slot: AttachmentSlot| present.contains(&slot);
    let mut problems = Vec::new();
    for spec in &specs {
        if spec.is_required() && !has(spec.slot) {
            problems.push((spec.slot, spec.missing));
        }
        let id_owed = spec.slot == AttachmentSlot::IdCopy && !has(AttachmentSlot::IdCopy);
        if id_owed && has(AttachmentSlot::PowerOfAttorney) {
            problems.push((AttachmentSlot::IdCopy, POWER_NEEDS_ID));
        }
    }
    for &slot in present {
        let foreign = !specs.iter().any(|spec| spec.slot == slot);
        if foreign && !problems.contains(&(slot, NOT_IN_FORM)) {
            problems.push((slot, NOT_IN_FORM));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttachmentSlot as S;

    #[test]
    fn kinds_have_codes_labels_and_defaults() {
        let cases = [
            (
                RequestKind::Information,
                "SI",
                "Solicitud de Información",
                false,
                Some(10),
            ),
            (
                RequestKind::Connection,
                "SC",
                "Solicitud de Conexión",
                true,
                Some(20),
            ),
            (
                RequestKind::Conformity,
                "MC",
                "Manifestación de Conformidad",
                false,
                None,
            ),
            (
                RequestKind::ConnectionNotice,
                "NC",
                "Notificación de Conexión",
                true,
                Some(20),
            ),
        ];
        for (kind, code, label, feasibility, deadline) in cases {
            assert_eq!(kind.code(), code);
            assert_eq!(kind.label(), label);
            assert_eq!(kind.allows_feasibility_number(), feasibility, "{code}");
            assert_eq!(kind.default_deadline_days(), deadline, "{code}");
            assert_eq!(RequestKind::from_code(code), Some(kind));
        }
        for unknown in ["", "si", "XX", "SI ", "Solicitud de Información"] {
            assert_eq!(RequestKind::from_code(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn statuses_have_exact_labels_and_stable_codes() {
        let cases = [
            (Status::Sent, "sent", "Enviado", false),
            (
                Status::PendingAnswer,
                "pending_answer",
                "Pendiente de Respuesta",
                false,
            ),
            (
                Status::PendingPayment,
                "pending_payment",
                "Pendiente de Pago",
                true,
            ),
            (
                Status::PendingValidation,
                "pending_validation",
                "Pendiente de Validación",
                false,
            ),
            (
                Status::PaymentRejected,
                "payment_rejected",
                "Pago Rechazado",
                true,
            ),
            (
                Status::PendingAnswerPaymentValidated,
                "pending_answer_payment_validated",
                "Pendiente de Respuesta Pago Validado",
                false,
            ),
            (Status::Answered, "answered", "Respondido", false),
            (
                Status::AutoAnswered,
                "auto_answered",
                "Respondido Automático",
                false,
            ),
            (Status::Annulled, "annulled", "Anulado", false),
        ];
        assert_eq!(cases.len(), Status::ALL.len());
        for (status, code, label, paused) in cases {
            assert_eq!(status.code(), code);
            assert_eq!(status.label(), label);
            assert_eq!(status.clock_paused(), paused, "{code}");
            assert_eq!(Status::from_code(code), Some(status));
        }
        for unknown in ["", "Enviado", "SENT", "pending"] {
            assert_eq!(Status::from_code(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn slot_codes_round_trip() {
        for slot in AttachmentSlot::ALL {
            assert_eq!(AttachmentSlot::from_code(slot.code()), Some(slot));
        }
        assert_eq!(AttachmentSlot::from_code("te4"), Some(S::Te4));
        assert_eq!(AttachmentSlot::from_code("../form"), None);
    }

    fn layout(kind: RequestKind, brings_meter: bool) -> Vec<(&'static str, bool)> {
        slots(kind, brings_meter)
            .iter()
            .map(|spec| (spec.slot().code(), spec.is_required()))
            .collect()
    }

    #[test]
    fn each_form_lists_its_slots_in_order() {
        let nc = [
            ("form", true),
            ("installer_id", true),
            ("contract", true),
            ("property_certificate", true),
            ("te4", true),
            ("id_copy", false),
            ("power_of_attorney", false),
            ("other", false),
        ];
        let meter = [
            ("meter_accuracy", true),
            ("meter_authorization", true),
            ("meter_delivery", false),
        ];
        let request = [("form", true), ("power_of_attorney", false)];
        let request = [&request[..], &[("id_copy", false), ("other", false)]].concat();
        let cases = [
            (RequestKind::Information, false, request.clone()),
            (RequestKind::Information, true, request.clone()),
            (RequestKind::Connection, false, request),
            (
                RequestKind::Conformity,
                false,
                vec![("form", true), ("other", false)],
            ),
            (RequestKind::ConnectionNotice, false, nc.to_vec()),
            (
                RequestKind::ConnectionNotice,
                true,
                [&nc[..], &meter[..]].concat(),
            ),
        ];
        for (kind, brings_meter, expected) in cases {
            assert_eq!(
                layout(kind, brings_meter),
                expected,
                "{kind:?} {brings_meter}"
            );
        }
    }

    #[test]
    fn labels_follow_each_form() {
        let label = |kind, slot| slot_spec(kind, true, slot).map(|spec| spec.label());
        let cases = [
            (
                RequestKind::Information,
                S::Form,
                Some("Formulario de Solicitud de Información"),
            ),
            (RequestKind::Information, S::Other, Some("Otros documentos")),
            (RequestKind::Connection, S::Other, Some("Otro documento")),
            (
                RequestKind::Conformity,
                S::Form,
                Some("Manifestación de Conformidad u otro"),
            ),
            (RequestKind::Conformity, S::PowerOfAttorney, None),
            (
                RequestKind::ConnectionNotice,
                S::IdCopy,
                Some("Fotocopia cédula de identidad"),
            ),
            (
                RequestKind::ConnectionNotice,
                S::Te4,
                Some("Copia de declaración de puesta en servicio (TE4)"),
            ),
            (
                RequestKind::ConnectionNotice,
                S::MeterDelivery,
                Some("Comprobante de entrega del equipo"),
            ),
        ];
        for (kind, slot, expected) in cases {
            assert_eq!(label(kind, slot), expected, "{kind:?} {slot:?}");
        }
        assert_eq!(
            slot_spec(RequestKind::ConnectionNotice, false, S::MeterAccuracy),
            None
        );
    }

    #[test]
    fn only_the_contract_is_pdf_of_one_megabyte() {
        for kind in RequestKind::ALL {
            for spec in slots(kind, true) {
                let (max, allowed) = if spec.slot() == S::Contract {
                    (1_048_576, PDF_ONLY)
                } else {
                    (5_242_880, ANY_DOCUMENT)
                };
                assert_eq!(spec.max_bytes(), max, "{kind:?} {:?}", spec.slot());
                assert_eq!(spec.allowed(), allowed, "{kind:?} {:?}", spec.slot());
            }
        }
    }

    #[test]
    fn slot_checks_name_their_limit_and_types() {
        let contract = slot_spec(RequestKind::ConnectionNotice, false, S::Contract).unwrap();
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let pdf = b"%PDF-1.7\n";
        let size = |bytes: &[u8]| bytes.len() as u64;
        assert_eq!(contract.check(size(pdf), pdf), Ok(FileKind::Pdf));
        let wrong_type = contract.check(size(png), png).unwrap_err().to_string();
        assert_eq!(wrong_type, "El archivo debe ser del tipo PDF.");
        let big = 1_048_577;
        let too_big = contract.check(big, pdf).unwrap_err().to_string();
        assert_eq!(too_big, "El archivo supera el tamaño máximo de 1 MB.");
        let form = slot_spec(RequestKind::Information, false, S::Form).unwrap();
        assert_eq!(form.check(size(png), png), Ok(FileKind::Png));
        assert_eq!(form.check(big, pdf), Ok(FileKind::Pdf));
    }

    #[test]
    fn complete_forms_pass() {
        let nc = [
            S::Form,
            S::InstallerId,
            S::Contract,
            S::PropertyCertificate,
            S::Te4,
        ];
        let nc_meter = [&nc[..], &[S::MeterAccuracy, S::MeterAuthorization]].concat();
        let cases: [(RequestKind, bool, Vec<S>); 7] = [
            (RequestKind::Information, false, vec![S::Form]),
            (
                RequestKind::Information,
                false,
                vec![S::Form, S::PowerOfAttorney, S::IdCopy],
            ),
            (
                RequestKind::Connection,
                false,
                vec![S::Form, S::IdCopy, S::Other],
            ),
            (RequestKind::Conformity, false, vec![S::Form, S::Other]),
            (RequestKind::ConnectionNotice, false, nc.to_vec()),
            (RequestKind::ConnectionNotice, true, nc_meter.clone()),
            (
                RequestKind::ConnectionNotice,
                true,
                [&nc_meter[..], &[S::MeterDelivery]].concat(),
            ),
        ];
        for (kind, brings_meter, present) in cases {
            assert_eq!(
                check_attachments(kind, brings_meter, &present),
                Ok(()),
                "{present:?}"
            );
        }
    }

    #[test]
    fn incomplete_forms_say_what_is_missing() {
        let nc = [
            S::Form,
            S::InstallerId,
            S::Contract,
            S::PropertyCertificate,
            S::Te4,
        ];
        type Case = (RequestKind, bool, Vec<S>, Vec<(S, &'static str)>);
        let cases: [Case; 8] = [
            (
                RequestKind::Information,
                false,
                vec![],
                vec![(
                    S::Form,
                    "Adjunte el Formulario de Solicitud de Información.",
                )],
            ),
            (
                RequestKind::Connection,
                false,
                vec![S::Form, S::PowerOfAttorney],
                vec![(S::IdCopy, POWER_NEEDS_ID)],
            ),
            (
                RequestKind::Conformity,
                false,
                vec![S::Other],
                vec![(
                    S::Form,
                    "Adjunte la Manifestación de Conformidad u otro documento.",
                )],
            ),
            (
                RequestKind::Conformity,
                false,
                vec![S::Form, S::PowerOfAttorney],
                vec![(S::PowerOfAttorney, NOT_IN_FORM)],
            ),
            (
                RequestKind::ConnectionNotice,
                false,
                vec![S::Form, S::InstallerId, S::PowerOfAttorney],
                vec![
                    (
                        S::Contract,
                        "Adjunte el Contrato firmado por el usuario o cliente final.",
                    ),
                    (
                        S::PropertyCertificate,
                        "Adjunte el Certificado de dominio vigente.",
                    ),
                    (
                        S::Te4,
                        "Adjunte la Copia de declaración de puesta en servicio (TE4).",
                    ),
                    (S::IdCopy, POWER_NEEDS_ID),
                ],
            ),
            (
                RequestKind::ConnectionNotice,
                true,
                [&nc[..], &[S::MeterDelivery]].concat(),
                vec![
                    (
                        S::MeterAccuracy,
                        "Adjunte el Comprobante de exactitud del medidor.",
                    ),
                    (
                        S::MeterAuthorization,
                        "Adjunte el Comprobante de autorización de comercialización del medidor.",
                    ),
                ],
            ),
            (
                RequestKind::ConnectionNotice,
                false,
                [&nc[..], &[S::MeterAccuracy, S::MeterAccuracy]].concat(),
                vec![(S::MeterAccuracy, NOT_IN_FORM)],
            ),
            (
                RequestKind::Information,
                false,
                vec![S::Form, S::Contract, S::Te4],
                vec![(S::Contract, NOT_IN_FORM), (S::Te4, NOT_IN_FORM)],
            ),
        ];
        for (kind, brings_meter, present, expected) in cases {
            assert_eq!(
                check_attachments(kind, brings_meter, &present),
                Err(expected),
                "{kind:?} {present:?}"
            );
        }
    }
}
