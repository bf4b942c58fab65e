//! A demo "pod": a real HTTP server on loopback whose behaviour can be switched at
//! run time. The demo uses it for app pods; the integration tests use it as the
//! probed app.

use crate::publish::http as serve;
use crate::publish::http::text;
use crate::publish::http::Limits;
use http::StatusCode;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How a pod behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `200 ok` on every path.
    Healthy,
    /// `503` on every path.
    Failing,
    /// Accepts requests but never answers them (until the mode changes).
    Hanging,
    /// Not listening: connections are refused, open ones are closed.
    Down,
}

/// A running pod. Dropping it stops the server.
pub struct Pod {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    stop: CancellationToken,
}

impl Pod {
    /// Starts a healthy pod on `ip` with a free port.
    pub async fn start(ip: std::net::IpAddr) -> std::io::Result<Pod> {
        Pod::start_at(SocketAddr::new(ip, 0)).await
    }

    /// Starts a healthy pod on `addr` (port 0 picks a free one).
    pub async fn start_at(addr: SocketAddr) -> std::io::Result<Pod> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(Mode::Healthy);
        let stop = CancellationToken::new();
        tokio::spawn(run(listener, addr, rx, stop.clone()));
        Ok(Pod { addr, mode, stop })
    }

    pub fn set_mode(&self, m: Mode) {
        self.mode.send_replace(m);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// `http://ADDR/healthz`.
    pub fn url(&self) -> String {
        format!("http://{}/healthz", self.addr)
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run(first: TcpListener, addr: SocketAddr, mut mode: watch::Receiver<Mode>, stop: CancellationToken) {
    let mut listener = Some(first);
    let limits = Limits {
        drain: Duration::ZERO,
        ..Limits::default()
    };
    loop {
        if *mode.borrow_and_update() != Mode::Down {
            let l = match listener.take() {
                Some(l) => l,
                None => match TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "demo pod cannot listen again; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
            };
            let down = stop.child_token();
            let rx = mode.clone();
            let handler = move |_req, _peer| {
                let mut rx = rx.clone();
                Box::pin(async move {
                    loop {
                        let m = *rx.borrow_and_update();
                        match m {
                            Mode::Healthy => return text(StatusCode::OK, "ok\n"),
                            Mode::Failing | Mode::Down => return text(StatusCode::SERVICE_UNAVAILABLE, "failing\n"),
                            Mode::Hanging => {
                                if rx.changed().await.is_err() {
                                    return text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n");
                                }
                            }
                        }
                    }
                }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
            };
            let server = tokio::spawn(serve::serve(l, limits.clone(), handler, None, down.clone()));
            // Serve until the mode becomes Down or the pod stops.
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    changed = mode.changed() => {
                        if changed.is_err() || *mode.borrow() == Mode::Down { break; }
                    }
                }
            }
            down.cancel();
            let _ = server.await;
        }
        if stop.is_cancelled() {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = mode.changed() => if changed.is_err() { return },
        }
    }
}
