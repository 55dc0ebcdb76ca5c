//! A line reader that never holds more than a limit of one line in memory.

use std::io::{self, BufRead};

/// What [`next_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line is in the buffer, without its `\n` or `\r\n`.
    Complete,
    /// The line was longer than the limit; it was skipped and the buffer is empty.
    TooLong,
}

/// Reads the next line into `buf` (cleared first), keeping at most `max` bytes of it.
/// Returns `None` at the end of the input. A longer line is consumed up to its `\n` without
/// being stored.
pub(crate) fn next_line<R: BufRead + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<Line>> {
    buf.clear();
    let mut any = false;
    let mut too_long = false;
    loop {
        let (used, done) = {
            let avail = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let (part, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], true),
                None => (avail, false),
            };
            if !too_long {
                if buf.len() + part.len() > max {
                    too_long = true;
                    buf.clear();
                    buf.shrink_to(max.min(64 * 1024));
                } else {
                    buf.extend_from_slice(part);
                }
            }
            (part.len() + usize::from(done), done)
        };
        r.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if too_long {
        return Ok(Some(Line::TooLong));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(Line::Complete))
}

/// `bytes` without a leading UTF-8 byte order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize, cap: usize) -> Vec<Result<String, ()>> {
        let mut r = io::BufReader::with_capacity(cap, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(l) = next_line(&mut r, &mut buf, max).expect("in-memory read") {
            out.push(match l {
                Line::Complete => Ok(String::from_utf8_lossy(&buf).into_owned()),
                Line::TooLong => Err(()),
            });
        }
        out
    }

    #[test]
    fn splits_lines_and_skips_long_ones() {
        let ok = |s: &str| Ok(s.to_string());
        for cap in [1, 3, 64] {
            assert_eq!(
                lines(b"a\r\nbb\n\nccc", 10, cap),
                vec![ok("a"), ok("bb"), ok(""), ok("ccc")]
            );
            assert_eq!(
                lines(b"12345\n123456\n1234\n", 5, cap),
                vec![ok("12345"), Err(()), ok("1234")]
            );
            assert_eq!(lines(b"", 5, cap), vec![]);
            assert_eq!(lines(b"\n", 5, cap), vec![ok("")]);
        }
    }
}
