//! The cases pages.
