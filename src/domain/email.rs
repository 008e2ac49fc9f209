//! E-mail addresses as typed in forms: trimmed, lower-cased, one line, a plausible shape.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Ingrese su correo electrónico.")]
    Empty,
    #[error("El correo electrónico no es válido.")]
    Invalid,
    #[error("El correo electrónico es demasiado largo.")]
    TooLong,
}

const MAX_LENGTH: usize = 254;

impl Email {
    /// The address is compared and stored lower-cased: mailbox names are case-insensitive at
    /// every provider our users have, and this makes "the same email in another case" one
    /// account. Non-ASCII addresses are refused because the mail transport would need SMTPUTF8.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_LENGTH {
            return Err(EmailError::TooLong);
        }
        let lowered = trimmed.to_ascii_lowercase();
        let valid_char = |c: char| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '<' | '>' | '"' | ',' | ';' | '\\' | '(' | ')' | '[' | ']'
                )
        };
        if !lowered.chars().all(valid_char) {
            return Err(EmailError::Invalid);
        }
        let Some((local, domain)) = lowered.rsplit_once('@') else {
            return Err(EmailError::Invalid);
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(EmailError::Invalid);
        }
        // The address must also be accepted by the mail library, or the outbox could not send.
        if lowered.parse::<lettre::Address>().is_err() {
            return Err(EmailError::Invalid);
        }
        Ok(Email(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_lowercases() {
        let cases = [
            ("ana@example.cl", "ana@example.cl"),
            (
                "  Ana.Perez+solar@Example.CL ",
                "ana.perez+solar@example.cl",
            ),
            ("x@sub.dominio-uno.cl", "x@sub.dominio-uno.cl"),
        ];
        for (input, expected) in cases {
            assert_eq!(Email::parse(input).unwrap().as_str(), expected);
        }
    }

    #[test]
    fn refuses_bad_addresses() {
        let cases = [
            ("", EmailError::Empty),
            ("ana", EmailError::Invalid),
            ("ana@", EmailError::Invalid),
            ("@example.cl", EmailError::Invalid),
            ("ana@example", EmailError::Invalid),
            ("ana@example.cl\r\nBcc: x@y.cl", EmailError::Invalid),
            ("ana@exa mple.cl", EmailError::Invalid),
            ("<script>@example.cl", EmailError::Invalid),
            ("ana@@example.cl", EmailError::Invalid),
            ("añá@example.cl", EmailError::Invalid),
            ("ana@.example.cl", EmailError::Invalid),
        ];
        for (input, expected) in cases {
            assert_eq!(Email::parse(input), Err(expected), "{input:?}");
        }
        let long = format!("{}@example.cl", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
