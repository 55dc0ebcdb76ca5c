//! File readers. Work in progress.
