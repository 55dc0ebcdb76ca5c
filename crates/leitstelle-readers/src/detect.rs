//! Finding files and telling their type from their first bytes.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::{Compression, FileJob, FileKind, Location, ReadError, ReadErrorKind};

/// How many bytes of a file (after decompression) [`sniff`] is given.
pub const SNIFF_BYTES: usize = 4096;

const EVTX_MAGIC: &[u8] = b"ElfFile\0";
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// Tells the type of a file from its first bytes (up to [`SNIFF_BYTES`]; fewer if the file is
/// shorter).
///
/// - [`FileKind::Evtx`]: starts with the EVTX magic `ElfFile\0`;
/// - [`FileKind::Gzip`]: starts with `1f 8b` (the caller sniffs the decompressed head again);
/// - [`FileKind::Json`]: the first byte after an optional UTF-8 byte order mark and
///   whitespace is `{` or `[`, or the file starts with a `Record 1` line followed by `{`
///   (the output of `evtx_dump -o json`);
/// - [`FileKind::Syslog`]: anything else that looks like text (no NUL byte, few control
///   characters), including an empty file;
/// - [`FileKind::Unknown`]: binary content.
///
/// ```
/// use leitstelle_readers::{sniff, FileKind};
/// assert_eq!(sniff(b"ElfFile\0..."), FileKind::Evtx);
/// assert_eq!(sniff(b"\xEF\xBB\xBF  {\"a\": 1}"), FileKind::Json);
/// assert_eq!(sniff(b"<13>May  1 10:00:00 host app: hi\n"), FileKind::Syslog);
/// assert_eq!(sniff(b"\x00\x01\x02\x03"), FileKind::Unknown);
/// ```
pub fn sniff(head: &[u8]) -> FileKind {
    if head.starts_with(EVTX_MAGIC) {
        return FileKind::Evtx;
    }
    if head.starts_with(GZIP_MAGIC) {
        return FileKind::Gzip;
    }
    let body = crate::lines::strip_bom(head);
    let text = body.trim_ascii_start();
    if matches!(text.first(), Some(b'{' | b'[')) || record_header_then_object(text) {
        return FileKind::Json;
    }
    if looks_like_text(body) {
        FileKind::Syslog
    } else {
        FileKind::Unknown
    }
}

/// Whether `line` is a `Record 123` header of `evtx_dump -o json` output.
pub(crate) fn is_record_header(line: &[u8]) -> bool {
    line.strip_prefix(b"Record ")
        .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

fn record_header_then_object(text: &[u8]) -> bool {
    let Some(nl) = text.iter().position(|&b| b == b'\n') else {
        return false;
    };
    is_record_header(text[..nl].trim_ascii_end())
        && text[nl + 1..].trim_ascii_start().first() == Some(&b'{')
}

fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.contains(&0) {
        return false;
    }
    let control = bytes
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)) || b == 0x7f)
        .count();
    control * 32 <= bytes.len()
}

/// The error for content [`sniff`] calls [`FileKind::Unknown`], naming what it is when known.
fn unknown(head: &[u8]) -> ReadErrorKind {
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        ReadErrorKind::Unsupported("UTF-16 text (convert it to UTF-8)")
    } else if head.starts_with(b"PK\x03\x04") {
        ReadErrorKind::Unsupported("zip archive (extract it first)")
    } else {
        ReadErrorKind::UnknownFormat
    }
}

/// Reads up to [`SNIFF_BYTES`] from `r`. A read error after some bytes keeps those bytes
/// (a truncated gzip file still has a head); with no bytes it is returned.
fn read_head(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    match r.take(SNIFF_BYTES as u64).read_to_end(&mut head) {
        Ok(_) => Ok(head),
        Err(_) if !head.is_empty() => Ok(head),
        Err(e) => Err(e),
    }
}

impl FileJob {
    /// Opens a file and tells its type from its content (see [`sniff`]); a gzip file is
    /// decompressed far enough to tell the type inside.
    pub fn detect(path: &Path) -> Result<FileJob, ReadError> {
        let err = |kind| ReadError::new(path, Location::File, kind);
        let meta = std::fs::metadata(path).map_err(|e| err(ReadErrorKind::Io(e)))?;
        if !meta.is_file() {
            return Err(err(ReadErrorKind::NotAFile));
        }
        let mut file = File::open(path).map_err(|e| err(ReadErrorKind::Io(e)))?;
        let head = read_head(&mut file).map_err(|e| err(ReadErrorKind::Io(e)))?;
        let job = |kind, compression| FileJob {
            path: path.to_path_buf(),
            kind,
            compression,
            size: meta.len(),
        };
        match sniff(&head) {
            FileKind::Gzip => {
                let file = File::open(path).map_err(|e| err(ReadErrorKind::Io(e)))?;
                let mut decoder = MultiGzDecoder::new(BufReader::new(file));
                let inner = read_head(&mut decoder).map_err(|e| err(ReadErrorKind::Io(e)))?;
                match sniff(&inner) {
                    FileKind::Gzip => Err(err(ReadErrorKind::Unsupported("gzip inside gzip"))),
                    FileKind::Unknown => Err(err(unknown(&inner))),
                    kind => Ok(job(kind, Compression::Gzip)),
                }
            }
            FileKind::Unknown => Err(err(unknown(&head))),
            kind => Ok(job(kind, Compression::None)),
        }
    }
}

/// Finds the files to read under `paths`: files are taken as they are, folders are walked
/// recursively in file-name order (so the result is deterministic). Each file's type is told
/// from its content with [`FileJob::detect`].
///
/// Symbolic links inside folders are not followed (they are skipped); a path given directly
/// is followed if it is a link. A file reached twice is listed once. Paths that cannot be
/// read, files of an unknown type and special files (FIFOs, sockets, devices) become errors;
/// the others are still returned.
pub fn discover(paths: &[PathBuf]) -> (Vec<FileJob>, Vec<ReadError>) {
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for root in paths {
        let walk = walkdir::WalkDir::new(root)
            .follow_links(false)
            .follow_root_links(true)
            .sort_by_file_name();
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().unwrap_or(root).to_path_buf();
                    // The I/O error alone: walkdir's message repeats the path.
                    let message = e.to_string();
                    let io = e
                        .into_io_error()
                        .unwrap_or_else(|| io::Error::other(message));
                    errors.push(ReadError::new(path, Location::File, ReadErrorKind::Io(io)));
                    continue;
                }
            };
            let file_type = entry.file_type();
            if file_type.is_dir() || (file_type.is_symlink() && entry.depth() > 0) {
                continue;
            }
            if !seen.insert(entry.path().to_path_buf()) {
                continue;
            }
            match FileJob::detect(entry.path()) {
                Ok(job) => jobs.push(job),
                Err(e) => errors.push(e),
            }
        }
    }
    (jobs, errors)
}
