//! The console's rules pages.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::App;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/rules", get(super::not_yet))
}
