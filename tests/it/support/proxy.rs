//! A TCP proxy between the portal and its database, to cut the database off in the ways a
//! network or a server fails: refuse (every live connection closed, new ones closed at once,
//! as when the server is down) and blackhole (connections accepted, nothing passes either
//! way, as when a network path silently drops everything). Back in forward mode, traffic held
//! by a blackhole flows again, as after a network partition heals.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Refuse,
    Blackhole,
}

/// Switches to a mode when the client sends bytes containing a pattern, before those bytes
/// reach the server: a cut in the middle of a transaction, at a statement the test chooses.
#[derive(Clone)]
struct Trigger {
    pattern: Vec<u8>,
    mode: Mode,
    /// The bytes that fire it reach the server first (the server gets the statement, its
    /// answer is lost), instead of never reaching it.
    delivered: bool,
}

#[derive(Clone)]
struct Control {
    mode: Arc<watch::Sender<Mode>>,
    trigger: Arc<std::sync::Mutex<Option<Trigger>>>,
}

pub struct Proxy {
    address: SocketAddr,
    control: Control,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a loopback port and forwards to `upstream`.
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, _) = watch::channel(Mode::Forward);
        let control = Control {
            mode: Arc::new(sender),
            trigger: Arc::new(std::sync::Mutex::new(None)),
        };
        let accept_loop = tokio::spawn(accept(listener, upstream, control.clone()));
        Proxy {
            address,
            control,
            accept_loop,
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn set(&self, mode: Mode) {
        *self.control.trigger.lock().unwrap() = None;
        self.control.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.control.mode.borrow()
    }

    /// Goes to `mode` as soon as the client sends `pattern` (for instance a statement's text).
    pub fn cut_when_client_sends(&self, pattern: &str, mode: Mode) {
        *self.control.trigger.lock().unwrap() = Some(Trigger {
            pattern: pattern.as_bytes().to_vec(),
            mode,
            delivered: false,
        });
    }

    /// Goes to `mode` right after passing on the bytes that contain `pattern`: the server
    /// receives the statement, but the client never hears its answer.
    pub fn cut_after_client_sends(&self, pattern: &str, mode: Mode) {
        *self.control.trigger.lock().unwrap() = Some(Trigger {
            pattern: pattern.as_bytes().to_vec(),
            mode,
            delivered: true,
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
        // Connection tasks end when they see the mode sender gone.
        self.control.mode.send_replace(Mode::Refuse);
    }
}

async fn accept(listener: TcpListener, upstream: String, control: Control) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve(client, upstream.clone(), control.clone()));
    }
}

/// One client connection: waits while blackholed, closes when refused, otherwise connects
/// upstream and pipes.
async fn serve(client: TcpStream, upstream: String, control: Control) {
    let mut mode = control.mode.subscribe();
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Refuse => return,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::Forward => break,
        }
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    pipe(client, server, mode, control).await;
}

async fn pipe(
    mut client: TcpStream,
    mut server: TcpStream,
    mut mode: watch::Receiver<Mode>,
    control: Control,
) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut from_client = vec![0u8; 64 * 1024];
    let mut from_server = vec![0u8; 64 * 1024];
    loop {
        if !wait_for_forward(&mut mode).await {
            return;
        }
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            read = client_read.read(&mut from_client) => {
                let chunk = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => &from_client[..n],
                };
                match triggered(&control, chunk) {
                    Some(true) => {
                        let _ = server_write.write_all(chunk).await;
                        let _ = server_write.flush().await;
                        if !wait_for_forward(&mut mode).await {
                            return;
                        }
                        continue;
                    }
                    // Refused: the bytes never reach the server.
                    Some(false) if !wait_for_forward(&mut mode).await => return,
                    _ => {}
                }
                if server_write.write_all(chunk).await.is_err() {
                    return;
                }
            }
            read = server_read.read(&mut from_server) => {
                let chunk = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => &from_server[..n],
                };
                if client_write.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Holds while blackholed; true once forwarding, false when refused (the connection closes).
async fn wait_for_forward(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Forward => return true,
            Mode::Refuse => return false,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}

/// Whether this chunk fires the armed trigger (then the mode has been switched), and whether
/// the chunk is to reach the server before the switch takes effect.
fn triggered(control: &Control, chunk: &[u8]) -> Option<bool> {
    let mut trigger = control.trigger.lock().unwrap();
    let fires = trigger.as_ref().is_some_and(|t| {
        chunk
            .windows(t.pattern.len())
            .any(|window| window == t.pattern.as_slice())
    });
    if !fires {
        return None;
    }
    let fired = trigger.take().unwrap();
    control.mode.send_replace(fired.mode);
    Some(fired.delivered)
}
