//! What the server writes into the journal for each received record.
//!
//! The journal keeps what was received, not what was parsed: the raw bytes plus the tenant,
//! the intake it came through, the parser that applies and the receive time. Replaying the
//! journal parses again with the same parser, so nothing depends on an in-memory form.
//! Input that could not be parsed is journaled too (kind `Dead`, with the reason), so a dead
//! letter is as durable as an event when the sender is told it was received.
//!
//! Layout (little endian): version `1` (u8), kind (u8: 1 event, 2 dead letter), received
//! time (i64 ns), tenant (u16 length + UTF-8), source (u16 length + UTF-8), format (u8 length
//! + UTF-8), reason (u32 length + UTF-8; empty for events), then the raw bytes to the end.

/// Whether a journal record is an event or a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Event,
    Dead,
}

/// One journal record, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: Kind,
    pub received_ns: i64,
    pub tenant: &'a str,
    pub source: &'a str,
    pub format: &'a str,
    pub reason: &'a str,
    pub raw: &'a [u8],
}

/// Why a journal record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("journal record: {0}")]
pub struct DecodeError(&'static str);

const VERSION: u8 = 1;

impl<'a> Record<'a> {
    /// Appends the encoded record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(
            32 + self.tenant.len() + self.source.len() + self.reason.len() + self.raw.len(),
        );
        out.push(VERSION);
        out.push(match self.kind {
            Kind::Event => 1,
            Kind::Dead => 2,
        });
        out.extend_from_slice(&self.received_ns.to_le_bytes());
        put(out, self.tenant.as_bytes(), 2);
        put(out, self.source.as_bytes(), 2);
        put(out, self.format.as_bytes(), 1);
        put(out, self.reason.as_bytes(), 4);
        out.extend_from_slice(self.raw);
    }

    /// The encoded record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// Decodes a record written by [`Record::encode`].
    pub fn decode(mut b: &'a [u8]) -> Result<Record<'a>, DecodeError> {
        let version = take(&mut b, 1)?[0];
        if version != VERSION {
            return Err(DecodeError("unknown version"));
        }
        let kind = match take(&mut b, 1)?[0] {
            1 => Kind::Event,
            2 => Kind::Dead,
            _ => return Err(DecodeError("unknown kind")),
        };
        let mut ts = [0u8; 8];
        ts.copy_from_slice(take(&mut b, 8)?);
        let tenant = text(&mut b, 2)?;
        let source = text(&mut b, 2)?;
        let format = text(&mut b, 1)?;
        let reason = text(&mut b, 4)?;
        Ok(Record {
            kind,
            received_ns: i64::from_le_bytes(ts),
            tenant,
            source,
            format,
            reason,
            raw: b,
        })
    }
}

fn put(out: &mut Vec<u8>, s: &[u8], width: usize) {
    let max = (1usize << (8 * width)) - 1;
    let s = &s[..s.len().min(max)];
    out.extend_from_slice(&(s.len() as u64).to_le_bytes()[..width]);
    out.extend_from_slice(s);
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if b.len() < n {
        return Err(DecodeError("truncated"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn text<'a>(b: &mut &'a [u8], width: usize) -> Result<&'a str, DecodeError> {
    let mut len = [0u8; 8];
    len[..width].copy_from_slice(take(b, width)?);
    let n = usize::try_from(u64::from_le_bytes(len)).map_err(|_| DecodeError("length"))?;
    std::str::from_utf8(take(b, n)?).map_err(|_| DecodeError("invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Record {
            kind: Kind::Dead,
            received_ns: -5,
            tenant: "acme",
            source: "http",
            format: "json",
            reason: "invalid JSON: eof",
            raw: b"{\"a\":",
        };
        let bytes = r.encode();
        assert_eq!(Record::decode(&bytes), Ok(r));
        let e = Record {
            kind: Kind::Event,
            reason: "",
            raw: b"",
            ..r
        };
        assert_eq!(Record::decode(&e.encode()), Ok(e));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = Record {
            kind: Kind::Event,
            received_ns: 1,
            tenant: "t",
            source: "s",
            format: "auto",
            reason: "",
            raw: b"x",
        }
        .encode();
        for cut in 0..good.len() - 1 {
            assert!(Record::decode(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = good.clone();
        bad[0] = 9;
        assert_eq!(Record::decode(&bad), Err(DecodeError("unknown version")));
        let mut bad = good;
        bad[1] = 7;
        assert_eq!(Record::decode(&bad), Err(DecodeError("unknown kind")));
    }
}
