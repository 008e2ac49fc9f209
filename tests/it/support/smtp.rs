//! A small SMTP server on loopback for tests: it speaks the protocol for real over TCP, keeps
//! what it receives, and can be told to answer MAIL FROM with a temporary or permanent failure,
//! to hang (hold the connection and say nothing), or to be down (nothing listening on its port).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    TemporaryFailure,
    PermanentFailure,
    /// Accepts the TCP connection and never says a word, not even the greeting.
    Hang,
    /// Greets, then reads what the client says and never answers again.
    HangAfterGreeting,
}

impl Behaviour {
    fn hangs(self) -> bool {
        matches!(self, Behaviour::Hang | Behaviour::HangAfterGreeting)
    }
}

#[derive(Clone)]
pub struct SmtpPeer {
    pub port: u16,
    pub received: Arc<Mutex<Vec<String>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    /// Connections held open right now without an answer.
    hanging: Arc<watch::Sender<usize>>,
    /// The accept loop while listening; it owns the open sessions, so that stopping it closes
    /// them too.
    listener: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl SmtpPeer {
    /// A free loopback port with nothing listening on it (yet).
    pub async fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A peer that is down: nothing listens on `port` until [`SmtpPeer::listen`].
    pub fn down(port: u16) -> SmtpPeer {
        SmtpPeer {
            port,
            received: Arc::new(Mutex::new(Vec::new())),
            behaviour: Arc::new(Mutex::new(Behaviour::Accept)),
            hanging: Arc::new(watch::Sender::new(0)),
            listener: Arc::new(Mutex::new(None)),
        }
    }

    /// A peer listening on `port`, accepting mail.
    pub async fn start(port: u16) -> SmtpPeer {
        let peer = Self::down(port);
        peer.listen().await;
        peer
    }

    /// Starts listening on the peer's port (again); what it received before is kept.
    pub async fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("binding the SMTP test port");
        let (received, behaviour, hanging) = (
            self.received.clone(),
            self.behaviour.clone(),
            self.hanging.clone(),
        );
        let task = tokio::spawn(async move {
            let mut sessions = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => {
                            let peer = (received.clone(), behaviour.clone(), hanging.clone());
                            sessions.spawn(session(socket, peer));
                        }
                        Err(_) => return,
                    },
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                }
            }
        });
        let previous = self.listener.lock().unwrap().replace(task);
        assert!(previous.is_none(), "the SMTP peer was already listening");
    }

    /// Goes down: stops listening and closes every open connection. When this returns, a
    /// connection to the port is refused.
    pub async fn stop(&self) {
        let task = self.listener.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// The Message-ID header of every message received, in the order they came.
    pub fn message_ids(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|message| {
                message
                    .lines()
                    .take_while(|line| !line.is_empty())
                    .find_map(|line| line.strip_prefix("Message-ID: "))
                    .unwrap_or_else(|| panic!("a message without Message-ID:\n{message}"))
                    .to_string()
            })
            .collect()
    }

    /// How many connections the peer is holding open without answering right now.
    pub fn hanging(&self) -> usize {
        *self.hanging.borrow()
    }

    /// Waits (at most ten seconds) until the peer holds at least `count` connections open.
    pub async fn until_hanging(&self, count: usize) {
        let mut changes = self.hanging.subscribe();
        tokio::time::timeout(
            Duration::from_secs(10),
            changes.wait_for(|held| *held >= count),
        )
        .await
        .unwrap_or_else(|_| panic!("the SMTP peer never held {count} connections"))
        .expect("the peer is alive");
    }
}

type Shared = (
    Arc<Mutex<Vec<String>>>,
    Arc<Mutex<Behaviour>>,
    Arc<watch::Sender<usize>>,
);

async fn session(socket: tokio::net::TcpStream, (received, behaviour, hanging): Shared) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let current = || *behaviour.lock().unwrap();
    if current() == Behaviour::Hang {
        return hold(lines, &hanging).await;
    }
    let _ = write.write_all(b"220 test.smtp ESMTP ready\r\n").await;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        // A connection opened before the peer started hanging (the client keeps a pool)
        // hangs from its next command on.
        if current().hangs() {
            return hold(lines, &hanging).await;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            b"250-test.smtp\r\n250 8BITMIME\r\n"
        } else if command.starts_with("HELO")
            || command.starts_with("RCPT")
            || command.starts_with("RSET")
            || command.starts_with("NOOP")
        {
            b"250 OK\r\n"
        } else if command.starts_with("MAIL") {
            match current() {
                Behaviour::TemporaryFailure => b"451 4.3.0 try again later\r\n",
                Behaviour::PermanentFailure => b"550 5.1.1 mailbox unavailable\r\n",
                _ => b"250 OK\r\n",
            }
        } else if command.starts_with("DATA") {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            let mut message = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                message.push_str(&line);
            }
            received.lock().unwrap().push(message);
            b"250 queued\r\n"
        } else if command.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Keeps the connection open, reading and answering nothing, until the client gives up (or
/// the peer stops).
async fn hold<R: tokio::io::AsyncBufRead + Unpin>(mut lines: R, hanging: &watch::Sender<usize>) {
    let _held = Held::count(hanging);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
    }
}

/// One held connection in the count, until dropped (also when the session is aborted).
struct Held<'a>(&'a watch::Sender<usize>);

impl<'a> Held<'a> {
    fn count(hanging: &'a watch::Sender<usize>) -> Self {
        hanging.send_modify(|held| *held += 1);
        Held(hanging)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|held| *held -= 1);
    }
}
