//! The hunt pages.
