//! Free text typed by users into single-line fields (names, razón social).

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("Este campo es obligatorio.")]
    Empty,
    #[error("El texto es demasiado largo (máximo {0} caracteres).")]
    TooLong(usize),
    #[error("El texto contiene caracteres no permitidos.")]
    ControlCharacters,
}

/// A trimmed, non-empty line of at most `max` characters without control characters
/// (CR/LF included: such a value would break e-mail headers and log lines).
pub fn single_line(input: &str, max: usize) -> Result<String, TextError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacters);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_rules() {
        assert_eq!(single_line("  Ana María ", 10), Ok("Ana María".to_string()));
        assert_eq!(single_line("   ", 10), Err(TextError::Empty));
        assert_eq!(
            single_line("Ana\r\nBcc", 10),
            Err(TextError::ControlCharacters)
        );
        assert_eq!(single_line("Ana\0", 10), Err(TextError::ControlCharacters));
        assert_eq!(single_line("ñandú ñandú", 5), Err(TextError::TooLong(5)));
        // Markup is just text here; templates escape it on output.
        assert_eq!(single_line("<script>", 20), Ok("<script>".to_string()));
    }
}
