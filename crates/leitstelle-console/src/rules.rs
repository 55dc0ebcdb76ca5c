//! The rules pages.
