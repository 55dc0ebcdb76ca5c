//! Syslog line parser (RFC 5424 and RFC 3164). Work in progress.
