//! The Leitstelle web console: server-rendered HTML pages, and the CSS and JavaScript they
//! load, embedded in the binary.
//!
//! Pages are plain functions from view data to [`Markup`] with `maud`, which escapes every
//! spliced value: event data is attacker-controlled and must render as text, so nothing
//! here ever splices unescaped text (no `PreEscaped` on data). The JavaScript is one
//! hand-written file (live updates over server-sent events, SLA countdowns, bulk
//! selection, keyboard navigation, the theme switch); pages carry no inline scripts or
//! styles, so the server's Content-Security-Policy forbids both. Charts are SVG built here.
//!
//! The server (`leitstelle-server`'s `console` module) authenticates, calls the same domain
//! layer as the API, and hands the results to these functions.

use maud::{DOCTYPE, Markup, html};

mod alerts;
mod fmt;

pub mod admin;
pub mod cases;
pub mod dashboard;
pub mod hunt;
pub mod rules;
pub mod tenants;

pub use alerts::{
    AlertDetail, QueueFilter, QueueRow, RuleView, SINCE, alert_page, queue_page, queue_row,
    since_secs,
};
pub use fmt::{duration, time};

/// An embedded static file: (path under `/static/`, content type, bytes).
/// Concatenates the console's asset files of one kind (each page area has its own file so
/// the pages stay separate in the source; the browser loads one file).
macro_rules! bundle {
    ($ext:literal) => {
        concat!(
            include_str!(concat!("../assets/app.", $ext)),
            include_str!(concat!("../assets/cases.", $ext)),
            include_str!(concat!("../assets/hunt.", $ext)),
            include_str!(concat!("../assets/rules.", $ext)),
            include_str!(concat!("../assets/dashboard.", $ext)),
            include_str!(concat!("../assets/tenants.", $ext)),
            include_str!(concat!("../assets/admin.", $ext)),
        )
    };
}

/// An embedded static file: (path under `/static/`, content type, bytes).
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", bundle!("css")),
    ("app.js", "text/javascript; charset=utf-8", bundle!("js")),
];

/// The Content-Security-Policy of every console page: scripts, styles and connections
/// from the server itself only, no inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'; object-src 'none'";

/// Who is looking at a page, for the layout.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub name: String,
    /// Tenants the viewer may pick from (its scope).
    pub tenants: Vec<String>,
    /// The tenant picked (`None`: all in scope).
    pub tenant: Option<String>,
    /// The session's CSRF token, put into every form.
    pub csrf: String,
    /// Whether the viewer may triage (shows actions).
    pub can_triage: bool,
}

/// The navigation entries: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/alerts", "Alerts"),
    ("/cases", "Cases"),
    ("/hunt", "Hunt"),
    ("/rules", "Rules"),
    ("/dashboard", "Dashboard"),
    ("/tenants", "Tenants"),
    ("/admin", "Admin"),
];

/// The hidden CSRF field every form carries.
pub fn csrf_field(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

/// A whole page: head, navigation with the tenant switcher, the body.
pub fn layout(title: &str, current: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Leitstelle" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                @if let Some(v) = viewer {
                    header.top {
                        a.brand href="/alerts" { "Leitstelle" }
                        nav aria-label="Main" {
                            @for (path, label) in NAV {
                                a href=(path) aria-current=[(current == *path).then_some("page")] { (label) }
                            }
                        }
                        form.tenant-switch method="get" action=(current) {
                            label for="tenant-switch" { "Tenant" }
                            select #tenant-switch name="tenant" data-autosubmit {
                                option value="" selected[v.tenant.is_none()] { "All tenants in scope" }
                                @for t in &v.tenants {
                                    option value=(t) selected[v.tenant.as_deref() == Some(t.as_str())] { (t) }
                                }
                            }
                            noscript { button type="submit" { "Switch" } }
                        }
                        div.user {
                            span.who { (v.name) }
                            button.theme type="button" data-theme-toggle aria-label="Switch light and dark mode" { "◐" }
                            form method="post" action="/logout" {
                                (csrf_field(v))
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// The login page.
pub fn login_page(error: Option<&str>, next: &str) -> Markup {
    layout(
        "Log in",
        "/login",
        None,
        html! {
            section.login {
                h1 { "Leitstelle" }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label for="user" { "User" }
                    input #user name="user" autocomplete="username" required autofocus;
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required;
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

/// A page saying what went wrong (not found, not allowed, invalid).
pub fn error_page(viewer: Option<&Viewer>, status: u16, message: &str) -> Markup {
    layout(
        "Error",
        "",
        viewer,
        html! {
            section.error-page {
                h1 { (status) }
                p role="alert" { (message) }
                p { a href="/alerts" { "Back to the alert queue" } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_escapes_the_error_and_the_next_path() {
        let page = login_page(Some("<script>x</script>"), "\"><script>y</script>").into_string();
        assert!(!page.contains("<script>x"));
        assert!(!page.contains("<script>y"));
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
    }

    #[test]
    fn pages_carry_no_inline_script_or_style() {
        let v = Viewer {
            name: "ann".into(),
            tenants: vec!["acme".into()],
            tenant: None,
            csrf: "t0k".into(),
            can_triage: true,
        };
        let page = error_page(Some(&v), 404, "gone").into_string();
        assert_eq!(
            page.matches("<script").count(),
            1,
            "only the external script"
        );
        assert!(page.contains("<script src=\"/static/app.js\" defer></script>"));
        assert!(!page.contains("style="));
        for handler in [
            " onclick=",
            " onchange=",
            " onload=",
            " onerror=",
            " onsubmit=",
        ] {
            assert!(!page.contains(handler), "no inline event handlers");
        }
        assert!(page.contains("name=\"csrf\" value=\"t0k\""));
    }
}
