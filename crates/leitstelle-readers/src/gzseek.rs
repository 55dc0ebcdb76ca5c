//! A seekable view of a gzip file, for the EVTX parser (which seeks from chunk to chunk).
//!
//! Nothing is buffered beyond the decoder's state: a forward seek decompresses and discards,
//! a backward seek starts again from the beginning of the file. The EVTX parser reads its
//! header, the stream length, every chunk header (to find the oldest chunk) and then the
//! chunks in order, so a gzip-compressed EVTX file is decompressed three to four times.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use flate2::read::MultiGzDecoder;

pub(crate) struct GzSeek {
    path: PathBuf,
    decoder: MultiGzDecoder<BufReader<File>>,
    /// The position the caller sought to.
    pos: u64,
    /// How many bytes the decoder has produced (at most `pos`; less when `pos` is past the
    /// end of the stream).
    decoded: u64,
    /// The decompressed length, once known.
    len: Option<u64>,
}

impl GzSeek {
    pub(crate) fn open(path: PathBuf) -> io::Result<Self> {
        let decoder = MultiGzDecoder::new(BufReader::new(File::open(&path)?));
        Ok(GzSeek {
            path,
            decoder,
            pos: 0,
            decoded: 0,
            len: None,
        })
    }

    fn restart(&mut self) -> io::Result<()> {
        self.decoder = MultiGzDecoder::new(BufReader::new(File::open(&self.path)?));
        self.decoded = 0;
        Ok(())
    }

    /// Decompresses and discards up to `n` bytes; returns how many there were.
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let skipped = io::copy(&mut (&mut self.decoder).take(n), &mut io::sink())?;
        self.decoded += skipped;
        if skipped < n {
            self.len = Some(self.decoded);
        }
        Ok(skipped)
    }

    /// Brings the decoder to `self.pos` (or to the end of the stream if that is before).
    fn sync(&mut self) -> io::Result<()> {
        if self.decoded > self.pos {
            self.restart()?;
        }
        if self.decoded < self.pos && self.len.is_none_or(|len| self.decoded < len) {
            self.skip(self.pos - self.decoded)?;
        }
        Ok(())
    }
}

impl Read for GzSeek {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sync()?;
        if self.decoded < self.pos {
            // Past the end of the stream.
            return Ok(0);
        }
        let n = self.decoder.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.len = Some(self.decoded);
        }
        self.decoded += n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for GzSeek {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "seek before the start");
        let target = match from {
            SeekFrom::Start(n) => n,
            SeekFrom::Current(d) => self.pos.checked_add_signed(d).ok_or_else(invalid)?,
            SeekFrom::End(d) => {
                let len = match self.len {
                    Some(len) => len,
                    None => {
                        if self.decoded > self.pos {
                            self.restart()?;
                        }
                        self.skip(u64::MAX)?;
                        self.decoded
                    }
                };
                len.checked_add_signed(d).ok_or_else(invalid)?
            }
        };
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn seeks_like_a_file() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let dir = std::env::temp_dir().join(format!("leitstelle-gzseek-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("data.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).expect("encode");
        std::fs::write(&path, enc.finish().expect("encode")).expect("write");

        let mut gz = GzSeek::open(path).expect("open");
        let mut buf = [0u8; 10];
        gz.seek(SeekFrom::Start(50_000)).expect("seek");
        gz.read_exact(&mut buf).expect("read");
        assert_eq!(buf[..], data[50_000..50_010]);
        assert_eq!(gz.seek(SeekFrom::End(0)).expect("seek end"), 100_000);
        gz.seek(SeekFrom::Start(5)).expect("seek back");
        gz.read_exact(&mut buf).expect("read");
        assert_eq!(buf[..], data[5..15]);
        assert_eq!(gz.seek(SeekFrom::Current(-5)).expect("rel"), 10);
        gz.read_exact(&mut buf).expect("read");
        assert_eq!(buf[..], data[10..20]);
        gz.seek(SeekFrom::Start(200_000)).expect("past end");
        assert_eq!(gz.read(&mut buf).expect("read past end"), 0);
        gz.seek(SeekFrom::Start(99_995)).expect("seek");
        let mut rest = Vec::new();
        gz.read_to_end(&mut rest).expect("read");
        assert_eq!(rest[..], data[99_995..]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
