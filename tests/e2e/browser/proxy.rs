//! A switchable TCP proxy between the browser and the server: the phone's network. `Offline` cuts every open
//! connection and refuses new ones (the page's requests, the service worker's and the browser's own alike:
//! chromedriver's network emulation applies to the page's target, not to its service worker); `LoseNextPushAnswer`
//! lets the next `POST /v1/sync/push` reach the server and drops its answer (a connection lost on the way back).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the network does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Online,
    Offline,
    LoseNextPushAnswer,
}

struct Shared {
    mode: Mutex<Mode>,
    cut: tokio::sync::watch::Sender<u64>,
    pushes: AtomicUsize,
    lost: AtomicUsize,
}

impl Shared {
    fn mode(&self) -> Mode {
        self.mode.lock().map(|m| *m).unwrap_or(Mode::Offline)
    }
}

/// The proxy; `base` is the URL the browser uses.
pub struct Proxy {
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.cut.send_modify(|g| *g += 1);
    }
}

impl Proxy {
    /// Listens on a free port and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> anyhow::Result<Proxy> {
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Online),
            cut: tokio::sync::watch::channel(0).0,
            pushes: AtomicUsize::new(0),
            lost: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if s.mode() == Mode::Offline {
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, upstream, s.clone()));
            }
        });
        Ok(Proxy { base, shared, task })
    }

    /// Switches the network; going offline cuts the connections already open.
    pub fn set(&self, mode: Mode) {
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = mode;
        }
        if mode == Mode::Offline {
            self.shared.cut.send_modify(|g| *g += 1);
        }
    }

    /// How many pushes reached the server through the proxy.
    pub fn pushes(&self) -> usize {
        self.shared.pushes.load(Ordering::SeqCst)
    }

    /// How many answers were dropped.
    pub fn lost(&self) -> usize {
        self.shared.lost.load(Ordering::SeqCst)
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let mut cut = shared.cut.subscribe();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let lose = AtomicBool::new(false);
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            if buf[..n].starts_with(b"POST /v1/sync/push") {
                shared.pushes.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut m) = shared.mode.lock()
                    && *m == Mode::LoseNextPushAnswer
                {
                    *m = Mode::Online;
                    lose.store(true, Ordering::SeqCst);
                }
            }
            sw.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = sr.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            if lose.load(Ordering::SeqCst) {
                // The server answered (so it applied the push); the phone never hears it.
                shared.lost.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
            cw.write_all(&buf[..n]).await?;
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut.changed() => {}
    }
}
