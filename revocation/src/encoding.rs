//! The binary wire format shared by lists, deltas and heads: the signed
//! envelope, primitive readers and writers, and the compact entry block.
//!
//! `docs/revocation-format.md` is the specification; this module is its
//! reference implementation.

use agentcap::unix_time::MAX_UNIX;
use agentcap::{KeyPair, PublicKey};

use crate::error::{DecodeError, ListError};
use crate::id::{RevocationId, RevocationReason};
use crate::keys::{KeyId, TrustedListKeys};
use crate::list::RevocationEntry;

/// Magic bytes opening every signed object.
pub(crate) const MAGIC: &[u8; 4] = b"ACRV";
/// The only format version this crate reads and writes.
pub(crate) const VERSION: u8 = 1;
/// magic (4) + version (1) + kind (1) + key id (8) + body length (4).
pub(crate) const HEADER_LEN: usize = 18;
/// Ed25519 signature length.
pub(crate) const SIG_LEN: usize = 64;

/// What a signed object is. Each kind has its own signature domain, so a
/// signature over one kind can never pass for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    List = 1,
    Delta = 2,
    Head = 3,
}

impl Kind {
    fn domain(self) -> &'static [u8] {
        match self {
            Kind::List => b"agentcap-revocation v1 list\0",
            Kind::Delta => b"agentcap-revocation v1 delta\0",
            Kind::Head => b"agentcap-revocation v1 head\0",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::List => "list",
            Kind::Delta => "delta",
            Kind::Head => "head",
        }
    }
}

/// Wraps `body` in the envelope and signs domain ‖ header ‖ body.
pub(crate) fn seal(kind: Kind, key: &KeyPair, body: &[u8]) -> Result<Vec<u8>, ListError> {
    let body_len = u32::try_from(body.len()).map_err(|_| ListError::TooLarge)?;
    let domain = kind.domain();
    let mut msg = Vec::with_capacity(domain.len() + HEADER_LEN + body.len() + SIG_LEN);
    msg.extend_from_slice(domain);
    msg.extend_from_slice(MAGIC);
    msg.push(VERSION);
    msg.push(kind as u8);
    msg.extend_from_slice(KeyId::of(&key.public()).as_bytes());
    msg.extend_from_slice(&body_len.to_le_bytes());
    msg.extend_from_slice(body);
    let sig = key.sign(&msg).map_err(|_| ListError::NotASigningKey)?;
    msg.drain(..domain.len());
    msg.extend_from_slice(&sig);
    Ok(msg)
}

/// The encoded object would not fit the format's 4 GiB body limit.
#[derive(Debug)]
pub(crate) struct TooLarge;

/// Length of the first complete envelope at the start of `bytes`, if its
/// header is readable. Used to split concatenated delta chains.
pub(crate) fn envelope_len(bytes: &[u8]) -> Option<usize> {
    let len = bytes.get(14..18)?;
    let body_len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    HEADER_LEN.checked_add(body_len)?.checked_add(SIG_LEN)
}

/// Checks the envelope and the signature and returns the signing key id and
/// the signed body. Nothing of the body is read before the signature has
/// verified; only the fixed-size header is looked at to find the key.
pub(crate) fn open<'a>(
    kind: Kind,
    bytes: &'a [u8],
    max_len: usize,
    keys: &TrustedListKeys,
) -> Result<(KeyId, &'a [u8]), DecodeError> {
    if bytes.len() > max_len {
        return Err(DecodeError::Oversized {
            len: bytes.len(),
            max: max_len,
        });
    }
    if bytes.len() < HEADER_LEN + SIG_LEN {
        if bytes.len() >= 4 && &bytes[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        return Err(DecodeError::Truncated {
            len: bytes.len(),
            expected: HEADER_LEN + SIG_LEN,
        });
    }
    if &bytes[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(DecodeError::UnsupportedVersion(bytes[4]));
    }
    if bytes[5] != kind as u8 {
        return Err(DecodeError::WrongKind {
            expected: kind.name(),
            found: bytes[5],
        });
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[6..14]);
    let key_id = KeyId::from_bytes(id);
    let expected = envelope_len(bytes).unwrap_or(usize::MAX);
    if bytes.len() < expected {
        return Err(DecodeError::Truncated {
            len: bytes.len(),
            expected,
        });
    }
    if bytes.len() > expected {
        return Err(DecodeError::TrailingBytes {
            extra: bytes.len() - expected,
        });
    }
    let key = keys.get(&key_id).ok_or(DecodeError::UnknownKey(key_id))?;
    let signed_end = expected - SIG_LEN;
    let mut sig = [0u8; SIG_LEN];
    sig.copy_from_slice(&bytes[signed_end..]);
    let domain = kind.domain();
    let mut msg = Vec::with_capacity(domain.len() + signed_end);
    msg.extend_from_slice(domain);
    msg.extend_from_slice(&bytes[..signed_end]);
    if !PublicKey::verify_strict(key, &msg, &sig) {
        return Err(DecodeError::BadSignature);
    }
    Ok((key_id, &bytes[HEADER_LEN..signed_end]))
}

/// A cursor over a signed body. Every failure is `Malformed`.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub(crate) type ReadResult<T> = Result<T, DecodeError>;

const SHORT: DecodeError = DecodeError::Malformed("body ends early");

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(SHORT)?;
        let out = self.buf.get(self.pos..end).ok_or(SHORT)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> ReadResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> ReadResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> ReadResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> ReadResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A unix time in seconds, at most year 9999.
    pub(crate) fn time(&mut self) -> ReadResult<u64> {
        let t = self.u64()?;
        if t > MAX_UNIX {
            return Err(DecodeError::Malformed("time beyond year 9999"));
        }
        Ok(t)
    }

    /// An issuer name: length byte (1..=255) and UTF-8.
    pub(crate) fn issuer(&mut self) -> ReadResult<String> {
        let len = self.u8()? as usize;
        if len == 0 {
            return Err(DecodeError::Malformed("empty issuer"));
        }
        let raw = self.bytes(len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Malformed("issuer is not UTF-8"))
    }

    /// An unsigned LEB128 varint in its shortest form.
    pub(crate) fn varint(&mut self) -> ReadResult<u64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(SHORT)?;
            self.pos += 1;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(DecodeError::Malformed("varint overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(DecodeError::Malformed("varint not in shortest form"));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed("varint too long"))
    }

    pub(crate) fn finish(&self) -> ReadResult<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError::Malformed(
                "trailing bytes inside the signed body",
            ))
        }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_issuer(out: &mut Vec<u8>, issuer: &str) {
    // Issuer length is validated (1..=255) wherever an issuer is accepted.
    out.push(issuer.len() as u8);
    out.extend_from_slice(issuer.as_bytes());
}

/// Whether `issuer` can be encoded.
pub(crate) fn valid_issuer(issuer: &str) -> bool {
    !issuer.is_empty() && issuer.len() <= 255
}

/// Prefix bits grouped into buckets for `count` entries. Deterministic, so
/// every content has exactly one encoding.
fn bucket_bits(count: usize) -> u8 {
    if count >= 1 << 17 {
        16
    } else if count >= 1 << 10 {
        8
    } else {
        0
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends the entry block. `entries` must be sorted by id without
/// duplicates, with minute-aligned times and `revoked_at <= this_update`.
pub(crate) fn put_entries(
    out: &mut Vec<u8>,
    entries: &[RevocationEntry],
    this_update: u64,
) -> Result<(), TooLarge> {
    let count = u32::try_from(entries.len()).map_err(|_| TooLarge)?;
    out.reserve(entries.len() * 20 + 8);
    out.extend_from_slice(&count.to_le_bytes());
    let bits = bucket_bits(entries.len());
    out.push(bits);
    let prefix_len = usize::from(bits / 8);
    if bits > 0 {
        let mut counts = vec![0u64; 1 << bits];
        for e in entries {
            counts[bucket_of(e.id.as_bytes(), prefix_len)] += 1;
        }
        for c in counts {
            put_varint(out, c);
        }
    }
    let base = this_update / 60;
    for e in entries {
        out.extend_from_slice(&e.id.as_bytes()[prefix_len..]);
        let rev = e.revoked_at / 60;
        let age = base.saturating_sub(rev);
        put_varint(out, (age << 1) | u64::from(e.reason.is_some()));
        if let Some(r) = e.reason {
            out.push(r.code());
        }
        let life = (e.expires_at / 60) as i64 - rev as i64;
        put_varint(out, zigzag(life));
    }
    Ok(())
}

fn bucket_of(id: &[u8; 16], prefix_len: usize) -> usize {
    match prefix_len {
        0 => 0,
        1 => usize::from(id[0]),
        _ => usize::from(id[0]) << 8 | usize::from(id[1]),
    }
}

/// Reads an entry block written by [`put_entries`], checking order,
/// canonical bucketing and time bounds.
pub(crate) fn read_entries(
    r: &mut Reader<'_>,
    this_update: u64,
) -> ReadResult<Vec<RevocationEntry>> {
    let count = r.u32()? as usize;
    let bits = r.u8()?;
    if bits != bucket_bits(count) {
        return Err(DecodeError::Malformed("non-canonical bucket size"));
    }
    let prefix_len = usize::from(bits / 8);
    let suffix_len = 16 - prefix_len;
    // Each entry takes at least its suffix and two one-byte varints.
    if count.saturating_mul(suffix_len + 2) > r.remaining() {
        return Err(DecodeError::Malformed("entry count exceeds the body"));
    }
    let buckets = read_bucket_counts(r, count, bits)?;
    let base = this_update / 60;
    let mut entries = Vec::with_capacity(count);
    let mut previous: Option<[u8; 16]> = None;
    for (bucket, &n) in buckets.iter().enumerate() {
        let mut id = bucket_prefix(bucket, prefix_len);
        for _ in 0..n {
            id[prefix_len..].copy_from_slice(r.bytes(suffix_len)?);
            if previous.is_some_and(|p| p >= id) {
                return Err(DecodeError::Malformed("entries not strictly sorted"));
            }
            previous = Some(id);
            entries.push(read_entry_after_id(r, id, base)?);
        }
    }
    Ok(entries)
}

/// The number of entries in each of the `2^bits` buckets (one bucket of
/// `count` when `bits` is zero); they must add up to `count`.
fn read_bucket_counts(r: &mut Reader<'_>, count: usize, bits: u8) -> ReadResult<Vec<u64>> {
    if bits == 0 {
        return Ok(vec![count as u64]);
    }
    let mut buckets: Vec<u64> = Vec::with_capacity(1 << bits);
    let mut total: u64 = 0;
    for _ in 0..(1usize << bits) {
        let c = r.varint()?;
        total = total.saturating_add(c);
        buckets.push(c);
    }
    if total != count as u64 {
        return Err(DecodeError::Malformed("bucket counts do not add up"));
    }
    Ok(buckets)
}

/// An id whose first `prefix_len` bytes (0, 1 or 2) are the bucket's
/// number, the rest zero.
fn bucket_prefix(bucket: usize, prefix_len: usize) -> [u8; 16] {
    let mut id = [0u8; 16];
    match prefix_len {
        0 => {}
        1 => id[0] = bucket as u8,
        _ => {
            id[0] = (bucket >> 8) as u8;
            id[1] = bucket as u8;
        }
    }
    id
}

/// The rest of the entry for `id`: when it was revoked (minutes before
/// `base`, the list's minute), its reason if flagged, and when the token
/// expires (minutes from the revocation, within range).
fn read_entry_after_id(r: &mut Reader<'_>, id: [u8; 16], base: u64) -> ReadResult<RevocationEntry> {
    let a = r.varint()?;
    let reason = if a & 1 == 1 {
        Some(RevocationReason::from_code(r.u8()?))
    } else {
        None
    };
    let rev = base
        .checked_sub(a >> 1)
        .ok_or(DecodeError::Malformed("revoked-at before 1970"))?;
    let life = unzigzag(r.varint()?);
    let exp = (rev as i64)
        .checked_add(life)
        .filter(|&m| m >= 0 && m as u64 <= MAX_UNIX / 60)
        .ok_or(DecodeError::Malformed("expires-at out of range"))?;
    Ok(RevocationEntry {
        id: RevocationId::from_digest_bytes(id),
        revoked_at: rev * 60,
        expires_at: exp as u64 * 60,
        reason,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong_forms() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint().unwrap(), v);
            r.finish().unwrap();
        }
        assert!(Reader::new(&[0x80, 0x00]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, 1, -1, 1000, -1000, i64::MAX / 2, i64::MIN / 2] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
