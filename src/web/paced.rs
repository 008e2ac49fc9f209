//! Uploads read at the pace of the handler. multer, which parses multipart bodies for axum,
//! takes every chunk the connection has ready before handing any on, into a buffer that grows
//! to hold them: with a client faster than the disk, most of an upload would sit in memory,
//! and twenty uploads of 15 MB at once would hold a good part of 300 MB. A paced body gives
//! out at most [`PIECE`] bytes per poll and then says "not ready, poll again", which ends
//! multer's loop; memory stays near one piece per upload, while the rest waits in the kernel's
//! socket buffers and slows the sender through TCP.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use http_body::{Frame, SizeHint};

/// The most a paced body gives out at once. hyper reads up to a few hundred kilobytes from a
/// fast connection in one go; they are handed on in pieces of this size (without copying).
const PIECE: usize = 64 * 1024;

/// A body that yields after each piece it hands out.
pub struct Paced {
    inner: Body,
    /// What is left of the last chunk read from `inner`.
    rest: Bytes,
    paused: bool,
}

impl Paced {
    fn new(inner: Body) -> Self {
        Paced {
            inner,
            rest: Bytes::new(),
            paused: false,
        }
    }
}

impl http_body::Body for Paced {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if std::mem::take(&mut self.paused) {
            // Ready at once for the next poll: this only ends the reader's current loop.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.rest.is_empty() {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => self.rest = data,
                    // Trailers pass as they are.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
        let size = self.rest.len().min(PIECE);
        let piece = self.rest.split_to(size);
        self.paused = true;
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        hint.set_lower(hint.lower() + rest);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

/// Paces the body of a multipart request; other requests pass unchanged.
pub async fn pace_multipart(request: Request) -> Request {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    if !multipart {
        return request;
    }
    request.map(|inner| Body::new(Paced::new(inner)))
}

#[cfg(test)]
mod tests {
    use futures::task::noop_waker_ref;
    use http_body::Body as _;

    use super::*;

    #[test]
    fn one_piece_per_poll_and_every_byte_in_order() {
        // Chunks smaller and larger than a piece, as a fast connection delivers them.
        let sizes = [1000, PIECE, 3 * PIECE + 17, 5];
        let chunks: Vec<Result<Bytes, std::io::Error>> = sizes
            .iter()
            .enumerate()
            .map(|(n, &size)| Ok(Bytes::from(vec![n as u8; size])))
            .collect();
        let mut body = Paced::new(Body::from_stream(futures::stream::iter(chunks)));
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut seen = Vec::new();
        let mut loops = 0;
        // Polled the way multer polls: in a loop until the body is not ready.
        'reading: loop {
            let mut in_this_loop = 0;
            loop {
                match Pin::new(&mut body).poll_frame(&mut cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        let data = frame.into_data().unwrap();
                        assert!(data.len() <= PIECE);
                        seen.extend_from_slice(&data);
                        in_this_loop += 1;
                    }
                    Poll::Pending => break,
                    Poll::Ready(None) => break 'reading,
                    Poll::Ready(Some(Err(error))) => panic!("{error}"),
                }
            }
            assert_eq!(in_this_loop, 1, "one piece per loop");
            loops += 1;
        }
        assert_eq!(loops, 1 + 1 + 4 + 1);
        let expected: Vec<u8> = sizes
            .iter()
            .enumerate()
            .flat_map(|(n, &size)| vec![n as u8; size])
            .collect();
        assert_eq!(seen, expected);
    }

    /// Whether the body, after its one chunk, says "not ready" before it ends.
    fn pauses_after_a_chunk(request: Request) -> bool {
        let mut body = request.into_body();
        let mut cx = Context::from_waker(noop_waker_ref());
        let first = Pin::new(&mut body).poll_frame(&mut cx);
        assert!(matches!(first, Poll::Ready(Some(Ok(_)))));
        Pin::new(&mut body).poll_frame(&mut cx).is_pending()
    }

    #[tokio::test]
    async fn only_multipart_requests_are_paced() {
        let request = |content_type: &str| {
            Request::builder()
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from("a=1"))
                .unwrap()
        };
        let form = pace_multipart(request("application/x-www-form-urlencoded")).await;
        assert!(!pauses_after_a_chunk(form));
        let multipart = pace_multipart(request("multipart/form-data; boundary=x")).await;
        assert!(pauses_after_a_chunk(multipart));
    }
}
