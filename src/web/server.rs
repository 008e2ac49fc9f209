//! The HTTP/1.1 server loop: accepts connections and serves the router on each, with a bound on
//! hyper's per-connection read buffer and a graceful shutdown that lets requests in progress
//! finish.
//!
//! `axum::serve` would do the same with hyper's default read buffer, which grows to about
//! 400 KiB on a connection that streams a large body; with twenty uploads in flight that was
//! the largest share of the portal's memory (measured with heaptrack, see bench/RESULTS.md), and
//! axum offers no way to set it.

use std::future::Future;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Router, body::Body};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;

/// The most hyper reads from a connection before the handler has taken it. Uploads go to disk
/// in 128 KiB writes (see `files::store`), so a larger network buffer would only hold bytes
/// waiting their turn.
pub const READ_BUFFER_LIMIT: usize = 64 * 1024;

/// How long after accepting a connection, or after a response on a kept-alive one, hyper waits
/// for a complete request head before closing it: a client that opens connections and never
/// finishes its headers does not keep them.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets every
/// open connection finish its request in progress, and returns. Handlers see the peer address
/// as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Pages are written in one or few pieces; waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request.map(Body::new))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .max_buf_size(READ_BUFFER_LIMIT)
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// A failed accept is either about that one connection (the peer gave up; nothing to do) or
/// about the process, typically out of file descriptors: then accepting again at once would
/// spin, so the loop waits a second for connections to close.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in one second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::{mpsc, oneshot};

    async fn listener() -> (TcpListener, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        (listener, address)
    }

    /// A request whose body is still arriving when shutdown begins is answered in full, the
    /// server returns only after that, and no new connection is accepted afterwards.
    #[tokio::test]
    async fn shutdown_lets_a_request_in_progress_finish() {
        let (started_tx, mut started) = mpsc::channel::<()>(1);
        let router = Router::new().route(
            "/echo",
            post(
                move |ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>, body: Body| {
                    let started_tx = started_tx.clone();
                    async move {
                        let _ = started_tx.send(()).await;
                        let body = axum::body::to_bytes(body, 1024).await.unwrap();
                        format!("{} from {}", String::from_utf8_lossy(&body), peer.ip())
                    }
                },
            ),
        );
        let (listener, address) = listener().await;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));

        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        client
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
            .await
            .unwrap();
        // The handler runs and waits for the rest of the body.
        started.recv().await.unwrap();
        stop.send(()).unwrap();
        client.write_all(b"world").await.unwrap();
        // Shutting down, the server closes the connection after the response instead of keeping
        // it alive; a server that did not would leave this read waiting (the guard fails it).
        let mut response = String::new();
        let guard = Duration::from_secs(10);
        tokio::time::timeout(guard, client.read_to_string(&mut response))
            .await
            .expect("the connection was not closed after the response")
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(
            response.ends_with("helloworld from 127.0.0.1"),
            "{response}"
        );

        tokio::time::timeout(guard, server)
            .await
            .expect("the server did not return")
            .unwrap();
        assert!(tokio::net::TcpStream::connect(address).await.is_err());
    }

    /// A connection that never completes its request head is closed once the header timeout
    /// passes (tokio's paused clock moves it there without waiting).
    #[tokio::test(start_paused = true)]
    async fn an_unfinished_request_head_is_closed_after_the_timeout() {
        let (listener, address) = listener().await;
        let router = Router::new().route("/", post(|| async { "never" }));
        tokio::spawn(serve(listener, router, std::future::pending()));

        let before = tokio::time::Instant::now();
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.unwrap();
        assert!(
            before.elapsed() >= HEADER_READ_TIMEOUT,
            "{:?}",
            before.elapsed()
        );
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.is_empty() || response.starts_with("HTTP/1.1 408"),
            "{response}"
        );
    }
}
