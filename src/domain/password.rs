//! Password policy (NIST SP 800-63B): length, no composition rules, a check against common
//! and guessable passwords, and against the account's own RUT and e-mail.

use unicode_normalization::UnicodeNormalization;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;
/// zxcvbn's score from 0 to 4; 3 is "safely unguessable" against throttled online guessing
/// and slowed offline guessing.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("La contraseña debe tener al menos 12 caracteres.")]
    TooShort,
    #[error("La contraseña no puede tener más de 128 caracteres.")]
    TooLong,
    #[error("La contraseña no puede contener su RUT ni su correo electrónico.")]
    ContainsPersonalData,
    #[error(
        "La contraseña es demasiado común o fácil de adivinar. Pruebe una frase de varias palabras."
    )]
    TooCommon,
    #[error("Las contraseñas no coinciden.")]
    Mismatch,
}

/// A password that passed the policy, in its NFKC form (the form that is hashed).
pub struct NewPassword(String);

impl NewPassword {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

/// The form every password takes before hashing or verifying, so that the same text typed on
/// two keyboards (composed or decomposed accents, full-width letters) is one password.
pub fn normalize(raw: &str) -> String {
    raw.nfkc().collect()
}

/// Checks a new password against the policy. `personal` holds the account's RUT (normalised)
/// and e-mail, which the password may not contain.
pub fn check(
    raw: &str,
    confirmation: &str,
    personal: &[&str],
) -> Result<NewPassword, PasswordError> {
    // Bound the work before normalising: a million characters must be refused cheaply.
    if raw.len() > MAX_CHARS * 4 {
        return Err(PasswordError::TooLong);
    }
    let password = normalize(raw);
    let length = password.chars().count();
    if length < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_CHARS {
        return Err(PasswordError::TooLong);
    }
    if password != normalize(confirmation) {
        return Err(PasswordError::Mismatch);
    }
    if contains_personal_data(&password, personal) {
        return Err(PasswordError::ContainsPersonalData);
    }
    let estimate = zxcvbn::zxcvbn(&password, personal);
    if estimate.score() < MIN_SCORE {
        return Err(PasswordError::TooCommon);
    }
    Ok(NewPassword(password))
}

fn contains_personal_data(password: &str, personal: &[&str]) -> bool {
    let compact = |text: &str| -> String {
        text.to_lowercase()
            .chars()
            .filter(|c| !matches!(c, '.' | '-' | '_' | ' '))
            .collect()
    };
    let password = compact(password);
    personal.iter().any(|value| {
        // For a RUT, its number without the check digit; for an e-mail, the mailbox name.
        let core = match value.split_once('@') {
            Some((local, _)) => compact(local),
            None => compact(value.split('-').next().unwrap_or_default()),
        };
        core.chars().count() >= 4 && password.contains(&core)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSONAL: [&str; 2] = ["13470539-6", "ana.perez@example.cl"];

    fn check_same(password: &str) -> Result<NewPassword, PasswordError> {
        check(password, password, &PERSONAL)
    }

    #[test]
    fn accepts_long_unusual_passphrases() {
        for password in [
            "sol de tarde en Arica",
            "paneles-sobre-el-techo-azul",
            "ñandú corre por la pampa",
            "x7#Lq9!vT2@mZ",
        ] {
            assert!(check_same(password).is_ok(), "{password}");
        }
        let longest = "palabra ".repeat(16);
        assert_eq!(longest.chars().count(), 128);
        assert!(
            check_same(&longest).is_ok()
                || check_same(&longest).err() == Some(PasswordError::TooCommon)
        );
    }

    #[test]
    fn enforces_length_bounds() {
        assert_eq!(
            check_same("Abcdefgh12!").err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            check_same(&"a".repeat(129)).err(),
            Some(PasswordError::TooLong)
        );
        assert_eq!(
            check_same(&"a".repeat(1_000_000)).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn refuses_common_and_personal_passwords() {
        assert_eq!(
            check_same("password1234").err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            check_same("123456789012").err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            check_same("qwertyuiopasdf").err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            check_same("mi rut es 13.470.539").err(),
            Some(PasswordError::ContainsPersonalData)
        );
        assert_eq!(
            check_same("ana.perez-para-siempre").err(),
            Some(PasswordError::ContainsPersonalData)
        );
    }

    #[test]
    fn confirmation_must_match_after_normalisation() {
        // "é" composed and decomposed are the same password.
        let composed = "canción del sol que brilla";
        let decomposed = "cancio\u{301}n del sol que brilla";
        assert!(check(composed, decomposed, &PERSONAL).is_ok());
        assert_eq!(
            check(composed, "otra cosa distinta", &PERSONAL).err(),
            Some(PasswordError::Mismatch)
        );
    }
}
