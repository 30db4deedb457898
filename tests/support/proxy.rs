//! A TCP proxy that can cut the line: put it between a role and a real
//! service (PostgreSQL) to take the service "down" for that role and bring
//! it back, without touching the server other tests share.
//!
//! Down means what a crashed or unreachable server looks like to a client:
//! open connections are reset and new ones are refused (accepted and closed
//! at once, before a byte is read).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct FaultProxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped on every cut: connections opened before it end.
    generation: watch::Sender<u64>,
    cuts: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free local port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let task = {
            let up = up.clone();
            let generation = generation.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let cut = generation.subscribe();
                    tokio::spawn(forward(client, target, cut));
                }
            })
        };
        FaultProxy {
            addr,
            up,
            generation,
            cuts: AtomicU64::new(0),
            task,
        }
    }

    /// The service goes away: open connections end, new ones are refused.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let n = self.cuts.fetch_add(1, Ordering::SeqCst) + 1;
        self.generation.send_replace(n);
    }

    /// The service is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.changed() => {
            // Reset rather than close politely: a dead server sends no FIN.
            // (tokio deprecates it because a lingering close blocks on drop;
            // a zero linger resets at once, which is the point here.)
            #[allow(deprecated)]
            let _ = client.set_linger(Some(std::time::Duration::ZERO));
        }
    }
}
