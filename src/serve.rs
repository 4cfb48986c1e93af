//! An axum router served in the background until its handle is stopped or dropped: what the
//! local servers (the embedded workspace, the local GitHub) hand their callers. It owns only the
//! task and its graceful shutdown; what is served is the caller's.

use std::net::SocketAddr;

/// A server running on a task: stops when [`Served::stop`] is called or it is dropped.
pub struct Served {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Served {
    /// Serves `app` on `listener` in the current runtime; `what` names it in the error log
    /// line if serving fails.
    pub fn spawn(
        listener: tokio::net::TcpListener,
        app: axum::Router,
        what: &'static str,
    ) -> Served {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("{what} stopped: {e}");
            }
        });
        Served {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
