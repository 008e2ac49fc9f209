//! The workflow of a request: which role may do what in which status, and where it leads.
//!
//! Every status change of a request goes through [`decide`], so that the screens, the handlers
//! and the history agree on one set of rules (DOMAIN.md, "Statuses" and "Further decisions").
//! Submission is not here: it creates a request rather than moving one.

use crate::domain::profile::Profile;
use crate::domain::request::Status;

/// Something a user does to an existing request. Each is recorded in the request's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Answer,
    RequestPayment,
    SendPaymentProof,
    ValidatePayment,
    RejectPayment,
    Annul,
    EditReference,
    SendMessage,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Answer,
        Action::RequestPayment,
        Action::SendPaymentProof,
        Action::ValidatePayment,
        Action::RejectPayment,
        Action::Annul,
        Action::EditReference,
        Action::SendMessage,
    ];

    /// The value stored in the history; never change one, recorded events keep it.
    pub fn code(self) -> &'static str {
        match self {
            Action::Answer => "answer",
            Action::RequestPayment => "request_payment",
            Action::SendPaymentProof => "send_payment",
            Action::ValidatePayment => "validate_payment",
            Action::RejectPayment => "reject_payment",
            Action::Annul => "annul",
            Action::EditReference => "edit_reference",
            Action::SendMessage => "message",
        }
    }

    /// Exactly the stored code, so that a typo in data is noticed rather than guessed.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.code() == code)
    }

    /// The label of the event in the history (Histórico).
    pub fn label(self) -> &'static str {
        match self {
            Action::Answer => "Respuesta",
            Action::RequestPayment => "Solicitud de pago",
            Action::SendPaymentProof => "Envío de comprobante de pago",
            Action::ValidatePayment => "Pago validado",
            Action::RejectPayment => "Pago rechazado",
            Action::Annul => "Anulación",
            Action::EditReference => "Edición de N° Solicitud",
            Action::SendMessage => "Comunicación",
        }
    }

    /// The only role that ever does this action: each transition belongs to one role.
    fn actor(self) -> Role {
        match self {
            Action::SendPaymentProof => Role::Applicant,
            Action::Annul => Role::Regulator,
            Action::Answer
            | Action::RequestPayment
            | Action::ValidatePayment
            | Action::RejectPayment
            | Action::EditReference
            | Action::SendMessage => Role::Distributor,
        }
    }

    /// What the action does, worded to follow "No se puede …" in a refusal.
    fn phrase(self) -> &'static str {
        match self {
            Action::Answer => "responder una solicitud",
            Action::RequestPayment => "solicitar el pago de una solicitud",
            Action::SendPaymentProof => "enviar un comprobante de pago para una solicitud",
            Action::ValidatePayment => "validar el pago de una solicitud",
            Action::RejectPayment => "rechazar el pago de una solicitud",
            Action::Annul => "anular una solicitud",
            Action::EditReference => "editar el N° Solicitud de una solicitud",
            Action::SendMessage => "enviar una comunicación sobre una solicitud",
        }
    }
}

/// Who acts. Whether a regulator is an administrator or a read-only auditor is checked by the
/// caller, like ownership: the workflow only knows that annulling is SEC's move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Applicant,
    Distributor,
    Regulator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Applicant, Role::Distributor, Role::Regulator];
}

impl From<Profile> for Role {
    fn from(profile: Profile) -> Self {
        match profile {
            Profile::Applicant => Role::Applicant,
            Profile::Distributor => Role::Distributor,
            Profile::Regulator => Role::Regulator,
        }
    }
}

/// What the workflow needs to know beyond the status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The payment request came with an answer file that stays hidden until the payment is
    /// validated: validating it then answers the request.
    pub answer_withheld: bool,
}

/// Why a move is refused, in words the user can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Checked before the role: "annulled" tells everyone why, "not your move" would not.
    #[error("La solicitud está anulada: solo puede consultarse.")]
    Annulled,
    #[error("Esta acción no corresponde a su perfil.")]
    NotYourMove,
    /// The right role, but the request is not in a status where this action applies.
    #[error("No se puede {} en estado «{}».", .action.phrase(), .status.label())]
    WrongStatus { action: Action, status: Status },
}

/// The next status, or why not. Ownership (is this the applicant's own request, the user's own
/// company?) is checked elsewhere by the database predicate; this decides only by status,
/// action and role. Actions without a status change return the same status.
pub fn decide(
    status: Status,
    action: Action,
    role: Role,
    context: Context,
) -> Result<Status, Refusal> {
    if status == Status::Annulled {
        return Err(Refusal::Annulled);
    }
    if role != action.actor() {
        return Err(Refusal::NotYourMove);
    }
    next_status(status, action, context).ok_or(Refusal::WrongStatus { action, status })
}

/// The transitions of DOMAIN.md for a request that is not annulled (`decide` checks that).
fn next_status(status: Status, action: Action, context: Context) -> Option<Status> {
    use Status as S;
    match action {
        Action::Answer => matches!(
            status,
            S::PendingAnswer
                | S::Sent
                | S::PendingAnswerPaymentValidated
                | S::Answered
                | S::AutoAnswered
        )
        .then_some(S::Answered),
        // Only before any answer: once answered there is nothing left to charge for.
        Action::RequestPayment => {
            matches!(status, S::PendingAnswer | S::Sent).then_some(S::PendingPayment)
        }
        Action::SendPaymentProof => {
            matches!(status, S::PendingPayment | S::PaymentRejected).then_some(S::PendingValidation)
        }
        Action::ValidatePayment => {
            (status == S::PendingValidation).then_some(if context.answer_withheld {
                S::Answered
            } else {
                S::PendingAnswerPaymentValidated
            })
        }
        Action::RejectPayment => (status == S::PendingValidation).then_some(S::PaymentRejected),
        Action::Annul => Some(S::Annulled),
        Action::EditReference | Action::SendMessage => Some(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use Role as R;
    use Status as S;

    /// Every allowed move, written out from DOMAIN.md rather than derived from `decide`:
    /// (from, action, role, answer_withheld if it matters, to).
    type Row = (S, A, R, Option<bool>, S);
    const ALLOWED: [Row; 36] = [
        (
            S::PendingAnswer,
            A::Answer,
            R::Distributor,
            None,
            S::Answered,
        ),
        (S::Sent, A::Answer, R::Distributor, None, S::Answered),
        (
            S::PendingAnswerPaymentValidated,
            A::Answer,
            R::Distributor,
            None,
            S::Answered,
        ),
        (S::Answered, A::Answer, R::Distributor, None, S::Answered),
        (
            S::AutoAnswered,
            A::Answer,
            R::Distributor,
            None,
            S::Answered,
        ),
        (
            S::PendingAnswer,
            A::RequestPayment,
            R::Distributor,
            None,
            S::PendingPayment,
        ),
        (
            S::Sent,
            A::RequestPayment,
            R::Distributor,
            None,
            S::PendingPayment,
        ),
        (
            S::PendingPayment,
            A::SendPaymentProof,
            R::Applicant,
            None,
            S::PendingValidation,
        ),
        (
            S::PaymentRejected,
            A::SendPaymentProof,
            R::Applicant,
            None,
            S::PendingValidation,
        ),
        (
            S::PendingValidation,
            A::ValidatePayment,
            R::Distributor,
            Some(true),
            S::Answered,
        ),
        (
            S::PendingValidation,
            A::ValidatePayment,
            R::Distributor,
            Some(false),
            S::PendingAnswerPaymentValidated,
        ),
        (
            S::PendingValidation,
            A::RejectPayment,
            R::Distributor,
            None,
            S::PaymentRejected,
        ),
        (S::Sent, A::Annul, R::Regulator, None, S::Annulled),
        (S::PendingAnswer, A::Annul, R::Regulator, None, S::Annulled),
        (S::PendingPayment, A::Annul, R::Regulator, None, S::Annulled),
        (
            S::PendingValidation,
            A::Annul,
            R::Regulator,
            None,
            S::Annulled,
        ),
        (
            S::PaymentRejected,
            A::Annul,
            R::Regulator,
            None,
            S::Annulled,
        ),
        (
            S::PendingAnswerPaymentValidated,
            A::Annul,
            R::Regulator,
            None,
            S::Annulled,
        ),
        (S::Answered, A::Annul, R::Regulator, None, S::Annulled),
        (S::AutoAnswered, A::Annul, R::Regulator, None, S::Annulled),
        (S::Sent, A::EditReference, R::Distributor, None, S::Sent),
        (
            S::PendingAnswer,
            A::EditReference,
            R::Distributor,
            None,
            S::PendingAnswer,
        ),
        (
            S::PendingPayment,
            A::EditReference,
            R::Distributor,
            None,
            S::PendingPayment,
        ),
        (
            S::PendingValidation,
            A::EditReference,
            R::Distributor,
            None,
            S::PendingValidation,
        ),
        (
            S::PaymentRejected,
            A::EditReference,
            R::Distributor,
            None,
            S::PaymentRejected,
        ),
        (
            S::PendingAnswerPaymentValidated,
            A::EditReference,
            R::Distributor,
            None,
            S::PendingAnswerPaymentValidated,
        ),
        (
            S::Answered,
            A::EditReference,
            R::Distributor,
            None,
            S::Answered,
        ),
        (
            S::AutoAnswered,
            A::EditReference,
            R::Distributor,
            None,
            S::AutoAnswered,
        ),
        (S::Sent, A::SendMessage, R::Distributor, None, S::Sent),
        (
            S::PendingAnswer,
            A::SendMessage,
            R::Distributor,
            None,
            S::PendingAnswer,
        ),
        (
            S::PendingPayment,
            A::SendMessage,
            R::Distributor,
            None,
            S::PendingPayment,
        ),
        (
            S::PendingValidation,
            A::SendMessage,
            R::Distributor,
            None,
            S::PendingValidation,
        ),
        (
            S::PaymentRejected,
            A::SendMessage,
            R::Distributor,
            None,
            S::PaymentRejected,
        ),
        (
            S::PendingAnswerPaymentValidated,
            A::SendMessage,
            R::Distributor,
            None,
            S::PendingAnswerPaymentValidated,
        ),
        (
            S::Answered,
            A::SendMessage,
            R::Distributor,
            None,
            S::Answered,
        ),
        (
            S::AutoAnswered,
            A::SendMessage,
            R::Distributor,
            None,
            S::AutoAnswered,
        ),
    ];

    /// The one role of each action, written out separately from `Action::actor`.
    const ACTORS: [(A, R); 8] = [
        (A::Answer, R::Distributor),
        (A::RequestPayment, R::Distributor),
        (A::SendPaymentProof, R::Applicant),
        (A::ValidatePayment, R::Distributor),
        (A::RejectPayment, R::Distributor),
        (A::Annul, R::Regulator),
        (A::EditReference, R::Distributor),
        (A::SendMessage, R::Distributor),
    ];

    const CONTEXTS: [Context; 2] = [
        Context {
            answer_withheld: false,
        },
        Context {
            answer_withheld: true,
        },
    ];

    fn expected(status: S, action: A, role: R, context: Context) -> Option<S> {
        ALLOWED
            .iter()
            .find(|(from, act, who, withheld, _)| {
                (*from, *act, *who) == (status, action, role)
                    && withheld.is_none_or(|w| w == context.answer_withheld)
            })
            .map(|row| row.4)
    }

    /// Annulled first, then the role, then the status: the order of the useful message.
    fn expected_refusal(status: S, action: A, role: R) -> Refusal {
        let actor = ACTORS.iter().find(|(act, _)| *act == action).unwrap().1;
        if status == S::Annulled {
            Refusal::Annulled
        } else if role != actor {
            Refusal::NotYourMove
        } else {
            Refusal::WrongStatus { action, status }
        }
    }

    #[test]
    fn every_combination_matches_the_table() {
        let mut checked = 0;
        for context in CONTEXTS {
            for status in S::ALL {
                for action in A::ALL {
                    for role in R::ALL {
                        let want = match expected(status, action, role, context) {
                            Some(next) => Ok(next),
                            None => Err(expected_refusal(status, action, role)),
                        };
                        let got = decide(status, action, role, context);
                        assert_eq!(got, want, "{status:?} {action:?} {role:?} {context:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 9 * 8 * 3);
    }

    #[test]
    fn exactly_the_listed_moves_are_allowed() {
        for context in CONTEXTS {
            let allowed = S::ALL
                .into_iter()
                .flat_map(|s| A::ALL.into_iter().map(move |a| (s, a)))
                .flat_map(|(s, a)| R::ALL.into_iter().map(move |r| (s, a, r)))
                .filter(|&(s, a, r)| decide(s, a, r, context).is_ok())
                .count();
            // Answer 5, payment request 2, proof 2, validate 1, reject 1, and 8 statuses each
            // for annul, edit reference and message.
            assert_eq!(allowed, 35, "{context:?}");
        }
    }

    #[test]
    fn validation_answers_only_when_an_answer_was_withheld() {
        let validate = |withheld| {
            let context = Context {
                answer_withheld: withheld,
            };
            decide(
                S::PendingValidation,
                A::ValidatePayment,
                R::Distributor,
                context,
            )
        };
        assert_eq!(validate(true), Ok(S::Answered));
        assert_eq!(validate(false), Ok(S::PendingAnswerPaymentValidated));
        assert!(!Context::default().answer_withheld);
    }

    #[test]
    fn annulled_requests_refuse_everyone_with_the_useful_reason() {
        for action in A::ALL {
            for role in R::ALL {
                let got = decide(S::Annulled, action, role, Context::default());
                assert_eq!(got, Err(Refusal::Annulled), "{action:?} {role:?}");
            }
        }
    }

    #[test]
    fn refusals_read_as_spanish_sentences() {
        let wrong = |action, status| Refusal::WrongStatus { action, status };
        let cases = [
            (
                Refusal::Annulled,
                "La solicitud está anulada: solo puede consultarse.",
            ),
            (
                Refusal::NotYourMove,
                "Esta acción no corresponde a su perfil.",
            ),
            (
                wrong(A::Answer, S::PendingPayment),
                "No se puede responder una solicitud en estado «Pendiente de Pago».",
            ),
            (
                wrong(A::RequestPayment, S::Answered),
                "No se puede solicitar el pago de una solicitud en estado «Respondido».",
            ),
            (
                wrong(A::SendPaymentProof, S::PendingValidation),
                "No se puede enviar un comprobante de pago para una solicitud en estado \
                 «Pendiente de Validación».",
            ),
            (
                wrong(A::ValidatePayment, S::PaymentRejected),
                "No se puede validar el pago de una solicitud en estado «Pago Rechazado».",
            ),
        ];
        for (refusal, text) in cases {
            assert_eq!(refusal.to_string(), text, "{refusal:?}");
            assert_eq!(format!("{refusal}"), text);
        }
    }

    #[test]
    fn wrong_status_messages_name_the_status_label() {
        for status in S::ALL {
            for action in A::ALL {
                let text = Refusal::WrongStatus { action, status }.to_string();
                assert!(text.starts_with("No se puede "), "{text}");
                assert!(
                    text.ends_with(&format!("en estado «{}».", status.label())),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn action_codes_and_labels() {
        let cases = [
            (A::Answer, "answer", "Respuesta"),
            (A::RequestPayment, "request_payment", "Solicitud de pago"),
            (
                A::SendPaymentProof,
                "send_payment",
                "Envío de comprobante de pago",
            ),
            (A::ValidatePayment, "validate_payment", "Pago validado"),
            (A::RejectPayment, "reject_payment", "Pago rechazado"),
            (A::Annul, "annul", "Anulación"),
            (
                A::EditReference,
                "edit_reference",
                "Edición de N° Solicitud",
            ),
            (A::SendMessage, "message", "Comunicación"),
        ];
        assert_eq!(cases.map(|case| case.0), A::ALL);
        for (action, code, label) in cases {
            assert_eq!(action.code(), code);
            assert_eq!(action.label(), label);
            assert_eq!(A::from_code(code), Some(action));
        }
        assert_eq!(A::from_code("Answer"), None);
        assert_eq!(A::from_code(""), None);
    }

    #[test]
    fn roles_follow_profiles() {
        let cases = [
            (Profile::Applicant, R::Applicant),
            (Profile::Distributor, R::Distributor),
            (Profile::Regulator, R::Regulator),
        ];
        for (profile, role) in cases {
            assert_eq!(Role::from(profile), role);
        }
        assert_eq!(R::ALL, [R::Applicant, R::Distributor, R::Regulator]);
    }
}
