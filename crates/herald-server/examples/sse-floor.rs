//! The floor under herald's memory per idle stream: a bare hyper HTTP/1.1 server (the
//! same builder settings the gateway uses) that answers every request with an endless
//! `text/event-stream` body and nothing else — no feed, no store, no routing. `cargo
//! xtask bench gateway` measures its RSS per idle connection beside the gateway's.
//!
//! Prints `sse-floor listening on http://ADDR/` and serves until killed.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use hyper_util::rt::{TokioIo, TokioTimer};

/// A body that sends `retry:` once and then waits for ever, as an idle stream does.
struct Idle(bool);

impl hyper::body::Body for Idle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if std::mem::replace(&mut self.0, true) {
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"retry: 1000\n\n")))))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("sse-floor listening on http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_request| async {
                let response = hyper::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Idle(false))
                    .expect("a valid response");
                Ok::<_, Infallible>(response)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
