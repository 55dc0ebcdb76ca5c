//! A server and its real router driven in-process (`oneshot`) the way a browser drives the
//! console: form logins, the session cookie, forms carrying the session's CSRF field.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use leitstelle_control::Control;
use tower::ServiceExt;

use super::{temp_dir, test_config};

/// A running server with its router and control plane.
pub struct Console {
    running: Option<leitstelle_server::Running>,
    pub router: Router,
    pub control: Arc<Control>,
    _dir: std::path::PathBuf,
}

/// A logged-in person: the session cookie and the CSRF token of their forms.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The CSRF token of the first form of a page.
pub fn csrf_of(page: &str) -> Option<String> {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(String::from)
}

impl Console {
    pub async fn start(name: &str) -> Console {
        let dir = temp_dir(name);
        let cfg = test_config(&dir);
        let running = leitstelle_server::start(cfg).await.expect("server starts");
        let router = leitstelle_server::api::router(Arc::clone(&running.app));
        let control = Arc::clone(&running.app.control);
        Console {
            running: Some(running),
            router,
            control,
            _dir: dir,
        }
    }

    /// Runs control-plane setup off the runtime's workers.
    pub async fn setup<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Control) -> T + Send + 'static,
    ) -> T {
        let c = Arc::clone(&self.control);
        tokio::task::spawn_blocking(move || f(&c))
            .await
            .expect("setup")
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// One request; `form` is sent url-encoded. Returns (status, headers, body).
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        s: Option<&Session>,
        form: Option<String>,
        accept: Option<&str>,
    ) -> (u16, HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(s) = s {
            req = req.header("cookie", format!("leitstelle_session={}", s.cookie));
        }
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        if form.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req
            .body(form.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 26)
            .await
            .expect("body");
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    pub async fn get(&self, s: &Session, uri: &str) -> (u16, String) {
        let (st, _, body) = self.send("GET", uri, Some(s), None, None).await;
        (st, body)
    }

    /// Posts a form with the session's CSRF field; returns (status, location, body).
    pub async fn post(
        &self,
        s: &Session,
        uri: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut body = format!("csrf={}", urlencode(&s.csrf));
        for (k, v) in fields {
            body.push_str(&format!("&{k}={}", urlencode(v)));
        }
        let (st, h, text) = self.send("POST", uri, Some(s), Some(body), None).await;
        let location = h
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_string();
        (st, location, text)
    }

    /// Logs in through the login form; the CSRF token comes from the page it leads to.
    pub async fn login(&self, user: &str, password: &str) -> Session {
        let form = format!(
            "user={}&password={}&next=%2Falerts",
            urlencode(user),
            urlencode(password)
        );
        let (st, h, _) = self.send("POST", "/login", None, Some(form), None).await;
        assert_eq!(st, 303, "login of {user}");
        let cookie = h["set-cookie"]
            .to_str()
            .ok()
            .and_then(|c| c.split(';').next())
            .and_then(|c| c.split_once('='))
            .map(|(_, v)| v.to_string())
            .expect("session cookie");
        let mut s = Session {
            cookie,
            csrf: String::new(),
        };
        let (_, page) = self.get(&s, "/alerts").await;
        s.csrf = csrf_of(&page).expect("csrf field");
        s
    }
}
