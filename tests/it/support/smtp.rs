//! A small SMTP server on loopback for tests: it speaks the protocol for real over TCP, keeps
//! what it receives, and can be told to answer MAIL FROM with a temporary or permanent failure.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    TemporaryFailure,
    PermanentFailure,
}

#[derive(Clone)]
pub struct SmtpPeer {
    pub port: u16,
    pub received: Arc<Mutex<Vec<String>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl SmtpPeer {
    /// A free loopback port with nothing listening on it (yet).
    pub async fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    pub async fn start(port: u16) -> SmtpPeer {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the SMTP test port");
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::Accept));
        let (r, b) = (received.clone(), behaviour.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, r.clone(), b.clone()));
            }
        });
        SmtpPeer {
            port,
            received,
            behaviour,
            task: Arc::new(task),
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 test.smtp ESMTP ready\r\n").await;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
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
            let current = *behaviour.lock().unwrap();
            match current {
                Behaviour::Accept => b"250 OK\r\n",
                Behaviour::TemporaryFailure => b"451 4.3.0 try again later\r\n",
                Behaviour::PermanentFailure => b"550 5.1.1 mailbox unavailable\r\n",
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
