//! The tenants pages.
