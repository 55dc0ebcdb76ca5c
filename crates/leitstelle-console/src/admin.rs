//! The admin pages.
