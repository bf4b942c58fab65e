//! A TCP proxy between one agent and the API server that can stall the agent's
//! traffic and later release it, like a network path that stops forwarding.
//!
//! - Stalled, nothing the agent sends reaches the server: bytes are held (in the
//!   proxy and in the kernel's buffers behind it), never dropped. Answers and watch
//!   events still reach the agent, so it keeps seeing the world and keeps wanting
//!   to write: the hardest case for a fence.
//! - Released, everything held is delivered, in order, even for requests the agent
//!   has since given up on and connections it has closed: a late delivery, as a
//!   real network can make.
//! - Connections to the server come from `from` (a loopback address of the test's
//!   choice), so the server's write log tells this agent's requests apart.

use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

pub struct StallProxy {
    /// Where the agent connects.
    pub addr: SocketAddr,
    stalled: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    /// Forwards connections on a free loopback port to `upstream`, from `from`.
    pub async fn start(upstream: SocketAddr, from: IpAddr) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stalled, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((agent, _)) = listener.accept().await {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = connect_from(from, upstream).await else {
                        return;
                    };
                    let (mut agent_r, mut agent_w) = agent.into_split();
                    let (mut server_r, mut server_w) = server.into_split();
                    let up = async move {
                        let mut rx = rx;
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = agent_r.read(&mut buf).await.unwrap_or(0);
                            // Held here (and behind, in the kernel) while stalled.
                            if rx.wait_for(|s| !*s).await.is_err() {
                                return;
                            }
                            if n == 0 || server_w.write_all(&buf[..n]).await.is_err() {
                                let _ = server_w.shutdown().await;
                                return;
                            }
                        }
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut server_r, &mut agent_w).await;
                        let _ = agent_w.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        StallProxy { addr, stalled, task }
    }

    /// Stops forwarding what the agent sends; holds it.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards what was held, and everything after.
    pub fn release(&self) {
        self.stalled.send_replace(false);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// The agents' Lease in the emulator.
pub(crate) const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/failover-agent/leases/failover-agent-leader";

/// Whether `agent` says it leads (`failover_agent_leader`), if it answers.
pub(crate) async fn leading(agent: &crate::cluster::Agent) -> Option<bool> {
    agent.metric("failover_agent_leader ").await.map(|v| v == 1.0)
}

/// The Lease's holder as the emulator has it ("" when free).
pub(crate) async fn holder(emu: &crate::cluster::Emulator) -> String {
    emu.get(LEASE).await["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or("")
        .to_string()
}
