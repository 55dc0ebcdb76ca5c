//! Syslog listeners: UDP (one message per datagram), TCP with octet-counting and newline
//! framing told apart per message (RFC 6587), and TLS (RFC 5425, `rustls`, optional client
//! certificates). Each listener has its tenant and parser.
//!
//! Messages are parsed and journaled in batches (what arrived together, up to
//! [`BATCH`]), so one fsync covers many messages. A message over the event size limit is
//! kept, cut to the limit, as a dead letter; nothing is dropped silently.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use leitstelle_parsers::Format;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

use crate::App;
use crate::api::parse_all;
use crate::pipeline::{Received, RecordFormat, Wait};

/// Most messages journaled together.
pub const BATCH: usize = 2048;

/// What a listener stamps on its messages, and its connection limits.
#[derive(Clone)]
pub struct Listener {
    /// Source name, for metrics, dead letters and the event's origin.
    pub name: Arc<str>,
    pub tenant: Arc<str>,
    pub format: Format,
    /// TCP/TLS: connections open at once.
    pub max_connections: usize,
    /// TCP/TLS: how long a connection may stay silent.
    pub idle_timeout: std::time::Duration,
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Parses and journals one batch of messages received at `received`; `too_large` are cut
/// messages.
async fn submit(
    app: &Arc<App>,
    l: &Listener,
    messages: Vec<Vec<u8>>,
    too_large: Vec<Vec<u8>>,
    received: Instant,
) {
    // Syslog has no refusal to give: wait for room (a TCP sender's reads pause meanwhile).
    let Ok(admission) = app
        .pipeline
        .admit(&l.tenant, messages.len() + too_large.len(), Wait::Forever)
        .await
    else {
        tracing::error!(listener = %l.name, "syslog messages not journaled: shutting down");
        return;
    };
    let mut parsed = match parse_all(
        app,
        RecordFormat::Parser(l.format),
        &l.tenant,
        &l.name,
        messages,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            // syslog has no acknowledgement to refuse: the messages are lost, loudly
            tracing::error!(listener = %l.name, error = %e, "syslog messages not journaled");
            return;
        }
    };
    let max = app.config.limits.max_event_bytes;
    for raw in too_large {
        parsed.push(Received {
            format: RecordFormat::Parser(l.format),
            raw,
            outcome: Err(format!(
                "message larger than the limit of {max} bytes (kept cut to the limit)"
            )),
            fail_kind: "too_large",
            parser: None,
        });
    }
    if let Err(e) = app
        .pipeline
        .submit(admission, &l.tenant, &l.name, parsed, received)
        .await
    {
        tracing::error!(listener = %l.name, error = %e, "syslog messages not journaled");
    }
}

/// Receives datagrams until shutdown.
pub async fn run_udp(
    app: Arc<App>,
    socket: UdpSocket,
    l: Listener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        let received = Instant::now();
        let mut messages = Vec::new();
        match first {
            Ok((n, _)) => push_datagram(&mut messages, &buf[..n]),
            Err(e) => {
                tracing::warn!(listener = %l.name, error = %e, "udp receive");
                continue;
            }
        }
        while messages.len() < BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, _)) => push_datagram(&mut messages, &buf[..n]),
                Err(_) => break,
            }
        }
        submit(&app, &l, messages, Vec::new(), received).await;
    }
}

fn push_datagram(out: &mut Vec<Vec<u8>>, d: &[u8]) {
    let d = d.strip_suffix(b"\n").unwrap_or(d);
    let d = d.strip_suffix(b"\r").unwrap_or(d);
    if !d.trim_ascii().is_empty() {
        out.push(d.to_vec());
    }
}

/// Accepts TCP connections until shutdown; `tls` wraps each in TLS first.
pub async fn run_tcp(
    app: Arc<App>,
    listener: TcpListener,
    l: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
) {
    let mut stop = shutdown.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(l.max_connections.max(1)));
    loop {
        // At the connection limit, stop accepting until one closes.
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(listener = %l.name, error = %e, "accept");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (app, l, tls, shutdown) = (Arc::clone(&app), l.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let result = match tls {
                None => connection(&app, &l, stream, shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => connection(&app, &l, s, shutdown).await,
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "TLS handshake took too long",
                        )),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(listener = %l.name, %peer, error = %e, "connection ended");
            }
        });
    }
}

/// One framed message read from a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Message(Vec<u8>),
    /// A message over the limit, cut to it.
    TooLarge(Vec<u8>),
}

/// Reads the next message: octet counting (`LEN SP MSG`) when it starts with a digit,
/// else up to the next LF (CR LF and NUL-terminated also accepted). `None` at end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: usize,
) -> io::Result<Option<Frame>> {
    // skip stray delimiters between frames
    loop {
        let buf = r.fill_buf().await?;
        match buf.first() {
            None => return Ok(None),
            Some(b'\n' | b'\r' | b'\0' | b' ') => r.consume(1),
            Some(_) => break,
        }
    }
    let starts_with_digit = r.fill_buf().await?.first().is_some_and(u8::is_ascii_digit);
    if starts_with_digit {
        // Octet counting, if digits are followed by a space within a few bytes.
        let head = r.fill_buf().await?;
        let digits = head.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits < head.len() && head[digits] == b' ' && digits <= 9 {
            let len: usize = std::str::from_utf8(&head[..digits])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            r.consume(digits + 1);
            let keep = len.min(max);
            let mut msg = vec![0u8; keep];
            r.read_exact(&mut msg).await?;
            if len > max {
                let mut rest = (&mut *r).take((len - max) as u64);
                tokio::io::copy(&mut rest, &mut tokio::io::sink()).await?;
                return Ok(Some(Frame::TooLarge(msg)));
            }
            return Ok(Some(Frame::Message(msg)));
        }
    }
    // Newline (or NUL) framing, bounded.
    let mut msg = Vec::new();
    let mut too_large = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            break;
        }
        let end = buf.iter().position(|&b| b == b'\n' || b == b'\0');
        let take = end.unwrap_or(buf.len());
        let room = max.saturating_sub(msg.len());
        if take > room {
            too_large = true;
        }
        msg.extend_from_slice(&buf[..take.min(room)]);
        r.consume(take + usize::from(end.is_some()));
        if end.is_some() {
            break;
        }
    }
    if msg.last() == Some(&b'\r') {
        msg.pop();
    }
    Ok(Some(if too_large {
        Frame::TooLarge(msg)
    } else {
        Frame::Message(msg)
    }))
}

async fn connection<S: AsyncRead + Unpin>(
    app: &Arc<App>,
    l: &Listener,
    stream: S,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let max = app.config.limits.max_event_bytes;
    let mut r = BufReader::with_capacity(256 * 1024, stream);
    loop {
        let mut messages = Vec::new();
        let mut too_large = Vec::new();
        let first = tokio::select! {
            f = tokio::time::timeout(l.idle_timeout, read_frame(&mut r, max)) => match f {
                Ok(f) => f?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle connection closed")),
            },
            _ = shutdown.changed() => return Ok(()),
        };
        let received = Instant::now();
        let mut frame = first;
        loop {
            match frame {
                None => {
                    if !messages.is_empty() || !too_large.is_empty() {
                        submit(app, l, messages, too_large, received).await;
                    }
                    return Ok(());
                }
                Some(Frame::Message(m)) => messages.push(m),
                Some(Frame::TooLarge(m)) => too_large.push(m),
            }
            // Keep reading while a message is already buffered: one batch per burst. Stray
            // delimiters after the last message must not make us wait for more data.
            let stray = r
                .buffer()
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r' | b'\0' | b' '))
                .count();
            r.consume(stray);
            if r.buffer().is_empty() || messages.len() + too_large.len() >= BATCH {
                break;
            }
            frame = read_frame(&mut r, max).await?;
        }
        submit(app, l, messages, too_large, received).await;
    }
}

/// Builds the TLS acceptor of a listener: its certificate and key, and when `client_ca` is
/// set, client certificates required and checked against it.
pub fn tls_acceptor(cfg: &crate::config::TlsConfig) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert)
        .map_err(|e| format!("{}: {e}", cfg.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cfg.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", cfg.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key)
        .map_err(|e| format!("{}: {e}", cfg.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &cfg.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))?
            {
                let c = c.map_err(|e| format!("{}: {e}", ca.display()))?;
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{} / {}: {e}", cfg.cert.display(), cfg.key.display()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = BufReader::new(input);
        let mut out = Vec::new();
        while let Some(f) = read_frame(&mut r, max).await.expect("read") {
            out.push(f);
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn octet_counting_and_newline_framing_mix() {
        let input = b"11 <13>hello\nx<14>line two\r\n\n29 <13>1 - - - - - - has\nnewline<15>nul\0";
        assert_eq!(
            frames(input, 1000).await,
            vec![
                msg("<13>hello\nx"),
                msg("<14>line two"),
                msg("<13>1 - - - - - - has\nnewline"),
                msg("<15>nul"),
            ]
        );
    }

    #[tokio::test]
    async fn a_line_starting_with_digits_but_no_count_is_a_line() {
        assert_eq!(
            frames(b"2024-05-01 host app: hi\n", 1000).await,
            vec![msg("2024-05-01 host app: hi")]
        );
    }

    #[tokio::test]
    async fn oversized_messages_are_cut_and_reading_goes_on() {
        let input = b"10 0123456789<13>\nabcdefghij\nnext\n";
        assert_eq!(
            frames(input, 4).await,
            vec![
                Frame::TooLarge(b"0123".to_vec()),
                Frame::Message(b"<13>".to_vec()),
                Frame::TooLarge(b"abcd".to_vec()),
                Frame::Message(b"next".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn a_truncated_octet_count_is_an_error_not_a_hang() {
        let mut r = BufReader::new(&b"50 short"[..]);
        assert!(read_frame(&mut r, 100).await.is_err());
    }
}
