//! The one format of this crate's local state files: the issuer's store
//! (`state.bin`), and a verifier's revocation state and its freshness file.
//!
//! A state file is a small checksummed envelope around a payload:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ACRVFILE` |
//! | 1 | kind: 1 revocation state, 2 freshness, 3 issuer store |
//! | 1 | version of that kind's payload (1) |
//! | 8 | payload length, little-endian |
//! | n | payload |
//! | 32 | SHA-256 of everything before |
//!
//! Files are written only with [`write`] (atomic replace, 0600, by callers
//! holding the lock of the file they write) and read only with [`read`],
//! which checks magic, kind, version, length and checksum before handing
//! out the payload. Files written in the formats used before this envelope
//! (`ACRVSTAT`, `ACRVFRSH`, `ACRVSTOR`) are not read: they are reported as
//! corrupt and must be recreated.

use std::io::Read;
use std::path::Path;

use agentcap::files::{self, FileMode};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"ACRVFILE";
/// Magic, kind, version, payload length.
pub(crate) const HEADER_LEN: usize = 8 + 1 + 1 + 8;
const SUM_LEN: usize = 32;
/// The largest state file read (a verifier state holds a whole list).
const MAX_FILE_BYTES: u64 = 4 << 30;

/// Which state file, and the version of its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kind {
    code: u8,
    version: u8,
}

/// A verifier's accepted list and its freshness.
pub(crate) const REVOCATION_STATE: Kind = Kind {
    code: 1,
    version: 1,
};
/// Freshness from heads accepted after the list.
pub(crate) const FRESHNESS: Kind = Kind {
    code: 2,
    version: 1,
};
/// The issuer's revoked ids.
pub(crate) const ISSUER_STORE: Kind = Kind {
    code: 3,
    version: 1,
};

/// Why a state file could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Reading failed.
    Io(std::io::Error),
    /// The file is not an intact state file of the expected kind.
    Corrupt(&'static str),
}

/// The bytes of a state file of `kind` holding `payload`.
pub(crate) fn encode(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + SUM_LEN);
    out.extend_from_slice(MAGIC);
    out.push(kind.code);
    out.push(kind.version);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

/// Checks the header of a state file of `kind`; returns the payload length.
fn check_header(kind: Kind, header: &[u8]) -> Result<u64, &'static str> {
    if header.len() < HEADER_LEN {
        return Err("file too short");
    }
    if &header[..8] != MAGIC {
        return Err("not a state file (or one from before the current format)");
    }
    if header[8] != kind.code {
        return Err("another kind of state file");
    }
    if header[9] != kind.version {
        return Err("unsupported state file version");
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[10..HEADER_LEN]);
    Ok(u64::from_le_bytes(len))
}

/// The payload of `bytes`, a state file of `kind`, once everything checks.
pub(crate) fn decode(kind: Kind, bytes: &[u8]) -> Result<&[u8], &'static str> {
    let len = check_header(kind, bytes)?;
    if bytes.len() < HEADER_LEN + SUM_LEN {
        return Err("file too short");
    }
    let (content, sum) = bytes.split_at(bytes.len() - SUM_LEN);
    if Sha256::digest(content)[..] != *sum {
        return Err("checksum mismatch");
    }
    let payload = &content[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err("length mismatch");
    }
    Ok(payload)
}

/// Replaces the state file at `path` with `payload` (atomically, 0600).
/// Callers hold the lock that guards `path`.
pub(crate) fn write(path: &Path, kind: Kind, payload: &[u8]) -> std::io::Result<()> {
    files::write_atomic(path, &encode(kind, payload), FileMode::Private)
}

/// Reads the state file of `kind` at `path`: its payload, or `None` when
/// there is no file.
pub(crate) fn read(path: &Path, kind: Kind) -> Result<Option<Vec<u8>>, ReadError> {
    let bytes = match files::read_bounded(path, MAX_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    decode(kind, &bytes)
        .map(|payload| Some(payload.to_vec()))
        .map_err(ReadError::Corrupt)
}

/// The first `n` payload bytes of the state file of `kind` at `path`,
/// without reading the rest or checking the checksum: only to notice
/// cheaply that another process changed the file. `None` when the file is
/// missing, of another kind or shorter.
pub(crate) fn peek(path: &Path, kind: Kind, n: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut head = vec![0u8; HEADER_LEN + n];
    if file.read_exact(&mut head).is_err() || check_header(kind, &head).is_err() {
        return Ok(None);
    }
    Ok(Some(head.split_off(HEADER_LEN)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage_and_other_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        assert!(read(&path, FRESHNESS).unwrap().is_none());
        write(&path, FRESHNESS, b"payload").unwrap();
        assert_eq!(read(&path, FRESHNESS).unwrap().unwrap(), b"payload");
        assert_eq!(peek(&path, FRESHNESS, 3).unwrap().unwrap(), b"pay");
        assert!(matches!(
            read(&path, ISSUER_STORE),
            Err(ReadError::Corrupt(_))
        ));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_LEN] ^= 1;
        assert_eq!(decode(FRESHNESS, &bytes), Err("checksum mismatch"));
        assert!(decode(FRESHNESS, b"ACRVSTAT").is_err());
    }
}
