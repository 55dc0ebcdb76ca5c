//! The console's admin pages.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::App;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/admin", get(super::not_yet))
}
