//! A Slack-like webhook receiver on a free loopback port that records every text it is sent.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use warp::Filter;

/// Records the `text` of every JSON body POSTed to `/hook`.
#[derive(Clone, Default)]
pub struct Receiver(Arc<Mutex<Vec<String>>>);

impl Receiver {
    /// Serve it; the URL to put in `alerts.webhook_url`.
    pub async fn start(&self) -> String {
        let texts = self.0.clone();
        let route = warp::path!("hook").and(warp::post()).and(warp::body::json()).map(move |body: Value| {
            texts.lock().unwrap().push(body["text"].as_str().unwrap_or_default().to_owned());
            "ok"
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        format!("http://{addr}/hook")
    }

    /// Every text received so far, in order.
    pub fn texts(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}
