//! Cursor files: `<name>.cursor`, 20 bytes: magic `LTCURSOR`, the position (u64 LE), CRC32
//! of the first 16 bytes (LE). Written as `<name>.cursor.tmp`, fsynced, renamed over the old
//! file, directory fsynced.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::sync_dir;

const CURSOR_MAGIC: [u8; 8] = *b"LTCURSOR";
const CURSOR_LEN: usize = 20;
pub(crate) const CURSOR_EXTENSION: &str = "cursor";

pub(crate) fn check_name(name: &str) -> Result<(), JournalError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidCursorName(name.to_string()))
    }
}

pub(crate) fn cursor_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.{CURSOR_EXTENSION}"))
}

fn encode(next: u64) -> [u8; CURSOR_LEN] {
    let mut b = [0u8; CURSOR_LEN];
    b[0..8].copy_from_slice(&CURSOR_MAGIC);
    b[8..16].copy_from_slice(&next.to_le_bytes());
    let crc = crc32fast::hash(&b[0..16]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode(path: &Path, bytes: &[u8]) -> Result<u64, JournalError> {
    let bad = |reason: &str| JournalError::BadCursor {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.len() != CURSOR_LEN {
        return Err(bad(&format!(
            "{} bytes, expected {CURSOR_LEN}",
            bytes.len()
        )));
    }
    if bytes[0..8] != CURSOR_MAGIC {
        return Err(bad("bad magic"));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[16..20]);
    if crc32fast::hash(&bytes[0..16]) != u32::from_le_bytes(crc) {
        return Err(bad("checksum mismatch"));
    }
    let mut next = [0u8; 8];
    next.copy_from_slice(&bytes[8..16]);
    Ok(u64::from_le_bytes(next))
}

/// Loads every `<name>.cursor` of `dir`; a garbled one is an error.
pub(crate) fn load(dir: &Path, names: &[String]) -> Result<BTreeMap<String, u64>, JournalError> {
    let mut cursors = BTreeMap::new();
    for file_name in names {
        let Some(name) = file_name.strip_suffix(".cursor") else {
            continue;
        };
        let path = dir.join(file_name);
        check_name(name).map_err(|_| JournalError::BadCursor {
            path: path.clone(),
            reason: "invalid cursor name".to_string(),
        })?;
        let bytes = fs::read(&path).map_err(|e| JournalError::io("read", &path, e))?;
        cursors.insert(name.to_string(), decode(&path, &bytes)?);
    }
    Ok(cursors)
}

/// Writes the cursor durably: temp file, fsync, rename, fsync of the directory.
pub(crate) fn store(dir: &Path, name: &str, next: u64) -> Result<(), JournalError> {
    let path = cursor_path(dir, name);
    let tmp = dir.join(format!("{name}.{CURSOR_EXTENSION}.tmp"));
    let mut f = File::create(&tmp).map_err(|e| JournalError::io("create", &tmp, e))?;
    f.write_all(&encode(next))
        .map_err(|e| JournalError::io("write", &tmp, e))?;
    f.sync_all()
        .map_err(|e| JournalError::io("fsync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| JournalError::io("rename", &tmp, e))?;
    sync_dir(dir)
}

/// Removes the cursor file durably.
pub(crate) fn remove(dir: &Path, name: &str) -> Result<(), JournalError> {
    let path = cursor_path(dir, name);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(JournalError::io("remove", &path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["store", "detect", "a", "x_1-2", &"a".repeat(64)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "../x", "a.b", "ü", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encode_decode() {
        let p = Path::new("x.cursor");
        assert_eq!(decode(p, &encode(12345)).ok(), Some(12345));
        let mut b = encode(7);
        b[9] ^= 0x40;
        assert!(decode(p, &b).is_err());
        assert!(decode(p, &b[..19]).is_err());
    }
}
