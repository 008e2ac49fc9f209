//! Chilean RUT (Rol Único Tributario): parsing, check digit and normal form.

use std::fmt;

/// RUTs from this number up belong to companies (personas jurídicas).
const COMPANY_THRESHOLD: u32 = 50_000_000;

/// A RUT whose check digit has been verified. Displayed and stored as `12345678-5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rut {
    number: u32,
    check_digit: char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RutError {
    #[error("Ingrese su RUT.")]
    Empty,
    #[error("El RUT contiene caracteres no válidos. Use números, puntos, guion y K.")]
    InvalidCharacters,
    #[error("El RUT no tiene un largo válido.")]
    InvalidLength,
    #[error("El dígito verificador del RUT no es correcto.")]
    WrongCheckDigit,
}

impl Rut {
    /// Accepts `12.345.678-5`, `12345678-5`, `123456785`, with spaces around and a
    /// lower-case `k`. Only ASCII digits are accepted: full-width digits and other
    /// look-alikes are refused rather than silently mapped.
    pub fn parse(input: &str) -> Result<Self, RutError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(RutError::Empty);
        }
        let mut symbols: Vec<char> = Vec::with_capacity(10);
        for c in trimmed.chars() {
            match c {
                '0'..='9' => symbols.push(c),
                'k' | 'K' => symbols.push('K'),
                '.' | '-' | ' ' => {}
                _ => return Err(RutError::InvalidCharacters),
            }
        }
        let Some((&check_digit, body)) = symbols.split_last() else {
            return Err(RutError::Empty);
        };
        if body.is_empty() || body.len() > 8 || body.contains(&'K') {
            return Err(if body.contains(&'K') {
                RutError::InvalidCharacters
            } else {
                RutError::InvalidLength
            });
        }
        let number: u32 = body
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| RutError::InvalidLength)?;
        if number == 0 {
            return Err(RutError::InvalidLength);
        }
        if check_digit_of(number) != check_digit {
            return Err(RutError::WrongCheckDigit);
        }
        Ok(Rut {
            number,
            check_digit,
        })
    }

    pub fn number(&self) -> u32 {
        self.number
    }

    /// A company RUT asks for a "Razón social" instead of names.
    pub fn is_company(&self) -> bool {
        self.number >= COMPANY_THRESHOLD
    }

    /// The stored form, `12345678-5`.
    pub fn normalized(&self) -> String {
        self.to_string()
    }

    /// The display form with thousands dots, `12.345.678-5`.
    pub fn formatted(&self) -> String {
        let digits = self.number.to_string();
        let mut out = String::with_capacity(digits.len() + 4);
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                out.push('.');
            }
            out.push(digit);
        }
        format!("{out}-{}", self.check_digit)
    }
}

impl fmt::Display for Rut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.number, self.check_digit)
    }
}

/// Módulo 11 with the weights 2..7 repeated from the right.
pub fn check_digit_of(number: u32) -> char {
    let mut sum = 0u32;
    let mut weight = 2;
    let mut rest = number;
    while rest > 0 {
        sum += (rest % 10) * weight;
        rest /= 10;
        weight = if weight == 7 { 2 } else { weight + 1 };
    }
    match 11 - (sum % 11) {
        11 => '0',
        10 => 'K',
        digit => char::from_digit(digit, 10).expect("a single digit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_valid_formats() {
        let cases = [
            ("12.345.678-5", "12345678-5"),
            ("12345678-5", "12345678-5"),
            ("123456785", "12345678-5"),
            ("  12.345.678-5 ", "12345678-5"),
            ("13470539-6", "13470539-6"),
            ("10.000.013-k", "10000013-K"),
            ("10000013K", "10000013-K"),
            ("76.086.428-5", "76086428-5"),
            ("1-9", "1-9"),
            ("50.000.000-7", "50000000-7"),
            ("12.345.67.8-5", "12345678-5"),
        ];
        for (input, expected) in cases {
            let rut = Rut::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(rut.normalized(), expected, "{input}");
        }
    }

    #[test]
    fn refuses_bad_input_with_its_reason() {
        let cases = [
            ("", RutError::Empty),
            ("   ", RutError::Empty),
            ("12.345.678-4", RutError::WrongCheckDigit),
            ("10000013-0", RutError::WrongCheckDigit),
            ("１２３４５６７８-５", RutError::InvalidCharacters),
            ("12345678-5\0", RutError::InvalidCharacters),
            ("12345678/5", RutError::InvalidCharacters),
            ("abc", RutError::InvalidCharacters),
            ("12K45678-5", RutError::InvalidCharacters),
            ("1234567890-1", RutError::InvalidLength),
            ("0-0", RutError::InvalidLength),
            ("5", RutError::InvalidLength),
            ("'; DROP TABLE users; --", RutError::InvalidCharacters),
        ];
        for (input, expected) in cases {
            assert_eq!(Rut::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn check_digit_covers_zero_and_k() {
        assert_eq!(check_digit_of(10_000_013), 'K');
        assert_eq!(check_digit_of(50_000_000), '7');
        assert_eq!(check_digit_of(12_345_678), '5');
    }

    #[test]
    fn formats_with_dots_and_detects_companies() {
        let person = Rut::parse("13470539-6").unwrap();
        assert_eq!(person.formatted(), "13.470.539-6");
        assert!(!person.is_company());
        let company = Rut::parse("76086428-5").unwrap();
        assert!(company.is_company());
        assert_eq!(Rut::parse("1-9").unwrap().formatted(), "1-9");
    }
}
