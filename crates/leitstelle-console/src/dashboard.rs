//! The dashboard pages.
