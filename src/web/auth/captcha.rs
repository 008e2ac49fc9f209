//! The image captcha of the registration, resend and recovery forms. The answer lives in the
//! database (any instance can check it) and each challenge can be answered once.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use captcha::filters::{Dots, Noise, Wave};
use rand::seq::IndexedRandom;

use crate::store::captchas;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L, 8/B).
const ALPHABET: [char; 26] = [
    'A', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W',
    'X', 'Y', 'Z', '2', '3', '4', '7',
];
const LENGTH: usize = 5;

/// A fresh challenge id for a form, or None when the captcha is switched off.
pub async fn new_challenge(state: &AppState) -> AppResult<Option<String>> {
    if !state.settings.captcha {
        return Ok(None);
    }
    let answer: String = {
        let mut rng = rand::rng();
        (0..LENGTH)
            .map(|_| *ALPHABET.choose(&mut rng).expect("non-empty alphabet"))
            .collect()
    };
    Ok(Some(
        captchas::create(&state.db, &answer, state.now()).await?,
    ))
}

/// Whether the typed code answers the challenge (always true when the captcha is off).
pub async fn solved(state: &AppState, id: &str, typed: &str) -> AppResult<bool> {
    if !state.settings.captcha {
        return Ok(true);
    }
    Ok(captchas::solve(&state.db, id, typed, state.now()).await?)
}

pub const WRONG_ANSWER: &str =
    "El código no coincide con la imagen. Escriba el nuevo código que se muestra.";

pub async fn image(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Response> {
    let answer = captchas::answer(&state.db, &id, state.now())
        .await?
        .ok_or(AppError::NotFound)?;
    let png = tokio::task::spawn_blocking(move || draw(&answer))
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("the captcha image could not be drawn"))
        })?;
    let mut response = png.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Ok(response)
}

fn draw(answer: &str) -> Option<Vec<u8>> {
    let mut image = captcha::Captcha::new();
    for letter in answer.chars() {
        image.set_chars(&[letter]).add_char();
    }
    image
        .apply_filter(Noise::new(0.2))
        .apply_filter(Wave::new(2.0, 12.0).horizontal())
        .view(220, 100)
        .apply_filter(Dots::new(8));
    image.as_png()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_for_any_answer() {
        let png = draw("ACD27").expect("a png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
