//! The console's tenants pages.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::App;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/tenants", get(super::not_yet))
}
