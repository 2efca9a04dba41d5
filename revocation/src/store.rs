//! The issuer side: a file store of revoked ids, pruning, publication and
//! export to a folder of static files.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use agentcap::files::{FileMode, write_atomic};

use crate::delta::ListDelta;
use crate::encoding::{HEADER_LEN, Reader, SIG_LEN, envelope_len, put_issuer, valid_issuer};
use crate::error::{ListError, StoreError};
use crate::head::ListHead;
use crate::id::{RevocationId, RevocationReason};
use crate::list::{RevocationEntry, RevocationList};
use crate::state_file::{self, ISSUER_STORE};
use agentcap::unix_time::{MAX_UNIX, to_unix};

/// How many consecutive deltas the store keeps (and exports).
pub const DELTAS_KEPT: u64 = 64;

/// Name of the push-stream event carrying a hex-encoded signed delta.
pub const EVENT_DELTA: &str = "delta";
/// Name of the push-stream event carrying a hex-encoded signed head.
pub const EVENT_HEAD: &str = "head";

const STATE_FILE: &str = "state.bin";
const LOCK_FILE: &str = "store.lock";
const PUBLISHED_DIR: &str = "published";

/// File name of the signed full list in a published or exported folder.
pub const LIST_FILE: &str = "list.bin";
/// File name of the signed head in a published or exported folder.
pub const HEAD_FILE: &str = "head.bin";
/// File name of the JSON rendering of the list in an exported folder.
pub const LIST_JSON_FILE: &str = "list.json";
/// Folder of signed deltas: `deltas/<N>.bin` turns list N into list N+1.
pub const DELTAS_DIR: &str = "deltas";

/// What one [`RevocationStore::publish`] produced: the signed list, the
/// signed delta from the previous list (when there is one and it can be
/// expressed as a delta), and the signed head.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Publication {
    /// Sequence of the new list.
    pub sequence: u64,
    /// The signed list.
    pub list: Vec<u8>,
    /// The signed delta from `sequence - 1`, if any.
    pub delta: Option<Vec<u8>>,
    /// The signed head.
    pub head: Vec<u8>,
}

/// A revocation authority's store: a folder holding the revoked ids
/// (`state.bin`), a lock file, and the last published list, head and deltas
/// (`published/`).
///
/// Every change takes an exclusive lock on the folder, reads the current
/// state, and replaces it atomically (temp file, fsync, rename, fsync of the
/// folder): several processes can revoke at once without losing anything,
/// and a crash mid-write leaves the previous state.
#[derive(Debug, Clone)]
pub struct RevocationStore {
    dir: PathBuf,
    issuer: String,
}

#[derive(Default)]
struct StoreState {
    entries: BTreeMap<RevocationId, RevocationEntry>,
}

struct Locked {
    _file: File,
}

impl RevocationStore {
    /// Opens the store in `dir` for `issuer`, creating the folder and an
    /// empty state if needed. Fails if the store belongs to another issuer.
    pub fn open(dir: impl AsRef<Path>, issuer: impl Into<String>) -> Result<Self, StoreError> {
        let issuer = issuer.into();
        if !valid_issuer(&issuer) {
            return Err(StoreError::InvalidIssuer);
        }
        let dir = dir.as_ref().to_path_buf();
        for d in [dir.clone(), dir.join(PUBLISHED_DIR).join(DELTAS_DIR)] {
            std::fs::create_dir_all(&d).map_err(|source| StoreError::Io {
                action: "creating folder",
                path: d.clone(),
                source,
            })?;
        }
        let store = Self { dir, issuer };
        let _lock = store.lock(true)?;
        store.remove_stale_temp_files();
        if store.state_path().exists() {
            store.load()?;
        } else {
            store.save(&StoreState::default())?;
        }
        Ok(store)
    }

    /// Removes temp files left by writers that died mid-write. Called with
    /// the exclusive lock held: every writer holds that lock while its temp
    /// file exists, so any temp file seen now is abandoned.
    fn remove_stale_temp_files(&self) {
        let published = self.published_dir();
        for dir in [
            self.dir.clone(),
            published.clone(),
            published.join(DELTAS_DIR),
        ] {
            let Ok(read) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in read.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if agentcap::files::is_temp_file_name(&name) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn published_dir(&self) -> PathBuf {
        self.dir.join(PUBLISHED_DIR)
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }

    fn lock(&self, exclusive: bool) -> Result<Locked, StoreError> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Self::io("opening lock file", &path))?;
        if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        }
        .map_err(Self::io("locking", &path))?;
        Ok(Locked { _file: file })
    }

    fn load(&self) -> Result<StoreState, StoreError> {
        let path = self.state_path();
        let corrupt = |reason| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        let payload = match state_file::read(&path, ISSUER_STORE) {
            Ok(Some(payload)) => payload,
            Ok(None) => return Err(corrupt("file missing")),
            Err(state_file::ReadError::Corrupt(reason)) => return Err(corrupt(reason)),
            Err(state_file::ReadError::Io(e)) => {
                return Err(Self::io("reading store state", &path)(e));
            }
        };
        let (issuer, state) = decode_store(&payload).map_err(|_| corrupt("malformed content"))?;
        if issuer != self.issuer {
            return Err(StoreError::WrongIssuer {
                expected: self.issuer.clone(),
                found: issuer,
            });
        }
        Ok(state)
    }

    fn save(&self, state: &StoreState) -> Result<(), StoreError> {
        let mut out = Vec::with_capacity(state.entries.len() * 34 + 300);
        put_issuer(&mut out, &self.issuer);
        out.extend_from_slice(&(state.entries.len() as u64).to_le_bytes());
        for e in state.entries.values() {
            out.extend_from_slice(e.id.as_bytes());
            out.extend_from_slice(&e.revoked_at.to_le_bytes());
            out.extend_from_slice(&e.expires_at.to_le_bytes());
            out.push(u8::from(e.reason.is_some()));
            out.push(e.reason.map_or(0, RevocationReason::code));
        }
        let path = self.state_path();
        state_file::write(&path, ISSUER_STORE, &out).map_err(Self::io("writing store state", &path))
    }

    /// Runs `change` on the current state under the exclusive lock and saves
    /// the result.
    fn modify<T>(&self, change: impl FnOnce(&mut StoreState) -> T) -> Result<T, StoreError> {
        let _lock = self.lock(true)?;
        let mut state = self.load()?;
        let out = change(&mut state);
        self.save(&state)?;
        Ok(out)
    }

    fn upsert(state: &mut StoreState, entry: RevocationEntry) {
        state
            .entries
            .entry(entry.id)
            .and_modify(|e| {
                // Revoking again never shortens an entry's life.
                e.expires_at = e.expires_at.max(entry.expires_at);
                if e.reason.is_none() {
                    e.reason = entry.reason;
                }
            })
            .or_insert(entry);
    }

    /// Revokes the block whose revocation id (e.g. its signature bytes from
    /// `Biscuit::revocation_identifiers()`) is `block_id`, for a token that
    /// expires at `token_expires_at`. Returns the id recorded.
    pub fn revoke(
        &self,
        block_id: &[u8],
        token_expires_at: SystemTime,
        reason: Option<RevocationReason>,
    ) -> Result<RevocationId, StoreError> {
        let id = RevocationId::from_block_id(block_id);
        self.revoke_id(id, token_expires_at, reason)?;
        Ok(id)
    }

    /// Revokes an already digested id.
    pub fn revoke_id(
        &self,
        id: RevocationId,
        token_expires_at: SystemTime,
        reason: Option<RevocationReason>,
    ) -> Result<(), StoreError> {
        let entry = RevocationEntry::new(id, SystemTime::now(), token_expires_at, reason);
        self.modify(|s| Self::upsert(s, entry))
    }

    /// Revokes several blocks in one locked write.
    pub fn revoke_many<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a [u8], SystemTime, Option<RevocationReason>)>,
    ) -> Result<Vec<RevocationId>, StoreError> {
        let now = SystemTime::now();
        let entries: Vec<RevocationEntry> = items
            .into_iter()
            .map(|(b, exp, reason)| {
                RevocationEntry::new(RevocationId::from_block_id(b), now, exp, reason)
            })
            .collect();
        self.modify(|s| {
            entries
                .iter()
                .map(|e| {
                    Self::upsert(s, *e);
                    e.id
                })
                .collect()
        })
    }

    /// Revokes block `block_index` of a token, given all of the token's
    /// per-block revocation ids and the token's expiry. That block and every
    /// token derived from it become revoked; blocks before it do not.
    pub fn revoke_token_block<B: AsRef<[u8]>>(
        &self,
        token_block_ids: &[B],
        block_index: usize,
        token_expires_at: SystemTime,
        reason: Option<RevocationReason>,
    ) -> Result<RevocationId, StoreError> {
        let block = token_block_ids
            .get(block_index)
            .ok_or(StoreError::BlockIndexOutOfRange {
                index: block_index,
                blocks: token_block_ids.len(),
            })?;
        self.revoke(block.as_ref(), token_expires_at, reason)
    }

    /// The current entries (published or not), sorted by id.
    pub fn entries(&self) -> Result<Vec<RevocationEntry>, StoreError> {
        let _lock = self.lock(false)?;
        Ok(self.load()?.entries.into_values().collect())
    }

    /// Removes entries whose token expired more than `margin` ago. Returns
    /// how many were removed. Takes effect at the next publication.
    pub fn prune(&self, margin: Duration) -> Result<usize, StoreError> {
        self.prune_at(margin, SystemTime::now())
    }

    /// [`prune`](Self::prune) as if the time were `now`.
    pub fn prune_at(&self, margin: Duration, now: SystemTime) -> Result<usize, StoreError> {
        let cutoff = to_unix(now).saturating_sub(margin.as_secs());
        self.modify(|s| {
            let before = s.entries.len();
            s.entries.retain(|_, e| e.expires_at >= cutoff);
            before - s.entries.len()
        })
    }

    /// Publishes the current entries as the next list, valid for
    /// `validity`, with the delta from the previous list and a head.
    pub fn publish(
        &self,
        key: &agentcap::KeyPair,
        validity: Duration,
    ) -> Result<Publication, StoreError> {
        self.publish_at(key, validity, SystemTime::now())
    }

    /// [`publish`](Self::publish) as if the time were `now`.
    pub fn publish_at(
        &self,
        key: &agentcap::KeyPair,
        validity: Duration,
        now: SystemTime,
    ) -> Result<Publication, StoreError> {
        let validity = checked_validity(validity)?;
        let _lock = self.lock(true)?;
        let state = self.load()?;
        let previous = self.read_published_list()?;
        let entries: Vec<RevocationEntry> = state.entries.into_values().collect();
        let newest_revocation = entries.iter().map(|e| e.revoked_at).max().unwrap_or(0);
        let this_update = to_unix(now).max(newest_revocation).min(MAX_UNIX - validity);
        let sequence = previous.as_ref().map_or(1, |p| p.sequence + 1);
        let list = RevocationList::from_sorted(
            self.issuer.clone(),
            sequence,
            this_update,
            this_update + validity,
            entries,
        );
        let list_bytes = list.sign(key)?;
        let delta = match &previous {
            Some(prev) => match ListDelta::between(prev, &list) {
                Ok(d) => Some(d.sign(key)?),
                Err(ListError::NotExpressibleAsDelta) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let head = ListHead {
            issuer: self.issuer.clone(),
            sequence,
            list_digest: list.digest,
            signed_at: this_update,
            next_update: this_update + validity,
        }
        .sign(key)?;
        let published = self.published_dir();
        // Delta first, head last: whoever sees the new head finds the rest.
        if let (Some(d), Some(prev)) = (&delta, &previous) {
            let path = published
                .join(DELTAS_DIR)
                .join(format!("{}.bin", prev.sequence));
            write_atomic(&path, d, FileMode::Public).map_err(Self::io("writing delta", &path))?;
        }
        let list_path = published.join(LIST_FILE);
        write_atomic(&list_path, &list_bytes, FileMode::Public)
            .map_err(Self::io("writing list", &list_path))?;
        let head_path = published.join(HEAD_FILE);
        write_atomic(&head_path, &head, FileMode::Public)
            .map_err(Self::io("writing head", &head_path))?;
        self.drop_old_deltas(sequence);
        Ok(Publication {
            sequence,
            list: list_bytes,
            delta,
            head,
        })
    }

    fn drop_old_deltas(&self, sequence: u64) {
        let dir = self.published_dir().join(DELTAS_DIR);
        let Ok(read) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in read.flatten() {
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|s| s.strip_suffix(".bin"))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if n + DELTAS_KEPT < sequence {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Signs a new head for the published list, fresh from `now` for
    /// `validity`, so verifiers stay fresh without downloading the list.
    /// Returns the signed head.
    pub fn refresh_head(
        &self,
        key: &agentcap::KeyPair,
        validity: Duration,
    ) -> Result<Vec<u8>, StoreError> {
        self.refresh_head_at(key, validity, SystemTime::now())
    }

    /// [`refresh_head`](Self::refresh_head) as if the time were `now`.
    pub fn refresh_head_at(
        &self,
        key: &agentcap::KeyPair,
        validity: Duration,
        now: SystemTime,
    ) -> Result<Vec<u8>, StoreError> {
        let validity = checked_validity(validity)?;
        let _lock = self.lock(true)?;
        let list = self
            .read_published_list()?
            .ok_or(StoreError::NothingPublished)?;
        let signed_at = to_unix(now).max(list.this_update).min(MAX_UNIX - validity);
        let head = ListHead {
            issuer: self.issuer.clone(),
            sequence: list.sequence,
            list_digest: list.digest,
            signed_at,
            next_update: signed_at + validity,
        }
        .sign(key)?;
        let path = self.published_dir().join(HEAD_FILE);
        write_atomic(&path, &head, FileMode::Public).map_err(Self::io("writing head", &path))?;
        Ok(head)
    }

    /// The published list as the store wrote it (its own file: parsed
    /// without a signature check).
    fn read_published_list(&self) -> Result<Option<RevocationList>, StoreError> {
        let path = self.published_dir().join(LIST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::io("reading published list", &path)(e)),
        };
        let corrupt = || StoreError::Corrupt {
            path: path.clone(),
            reason: "published list is malformed",
        };
        if envelope_len(&bytes) != Some(bytes.len()) || bytes.len() < HEADER_LEN + SIG_LEN {
            return Err(corrupt());
        }
        let body = &bytes[HEADER_LEN..bytes.len() - SIG_LEN];
        let list = RevocationList::decode_body(body).map_err(|_| corrupt())?;
        Ok(Some(list))
    }

    fn read_published_file(&self, rel: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.published_dir().join(rel);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io("reading published file", &path)(e)),
        }
    }

    /// A cheap fingerprint of the newest publication (the published list
    /// file's size and modification time), for noticing at once that
    /// another process published, without reading the list. `None` before
    /// the first publication.
    pub fn publication_stamp(&self) -> Option<(u64, SystemTime)> {
        let metadata = std::fs::metadata(self.published_dir().join(LIST_FILE)).ok()?;
        Some((metadata.len(), metadata.modified().ok()?))
    }

    /// The signed head, list and latest delta as last published, if any.
    pub fn published(&self) -> Result<Option<Publication>, StoreError> {
        let _lock = self.lock(false)?;
        let (Some(list), Some(head)) = (
            self.read_published_file(Path::new(LIST_FILE))?,
            self.read_published_file(Path::new(HEAD_FILE))?,
        ) else {
            return Ok(None);
        };
        let Some(parsed) = self.read_published_list()? else {
            return Ok(None);
        };
        let sequence = parsed.sequence;
        let delta = match sequence.checked_sub(1) {
            Some(prev) if prev > 0 => {
                self.read_published_file(&Path::new(DELTAS_DIR).join(format!("{prev}.bin")))?
            }
            _ => None,
        };
        Ok(Some(Publication {
            sequence,
            list,
            delta,
            head,
        }))
    }

    /// The signed delta from list `from` to list `from + 1`, if kept.
    pub fn delta(&self, from: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let _lock = self.lock(false)?;
        self.read_published_file(&Path::new(DELTAS_DIR).join(format!("{from}.bin")))
    }

    /// Writes the published objects to `dir` as static files any web server
    /// or CDN can serve: `deltas/<N>.bin`, `list.bin`, `list.json` and, last,
    /// `head.bin`. Each file is replaced atomically.
    pub fn export_to(&self, dir: impl AsRef<Path>) -> Result<(), StoreError> {
        let dir = dir.as_ref();
        let deltas_out = dir.join(DELTAS_DIR);
        std::fs::create_dir_all(&deltas_out).map_err(Self::io("creating folder", &deltas_out))?;
        let _lock = self.lock(false)?;
        let list = self
            .read_published_list()?
            .ok_or(StoreError::NothingPublished)?;
        let deltas_in = self.published_dir().join(DELTAS_DIR);
        let read = std::fs::read_dir(&deltas_in).map_err(Self::io("listing deltas", &deltas_in))?;
        for entry in read.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(".bin") {
                continue;
            }
            let bytes =
                std::fs::read(entry.path()).map_err(Self::io("reading delta", &entry.path()))?;
            let out = deltas_out.join(&name);
            write_atomic(&out, &bytes, FileMode::Public)
                .map_err(Self::io("writing delta", &out))?;
        }
        for (name, bytes) in [
            (LIST_FILE, self.read_published_file(Path::new(LIST_FILE))?),
            (LIST_JSON_FILE, Some(list.to_json().into_bytes())),
            (HEAD_FILE, self.read_published_file(Path::new(HEAD_FILE))?),
        ] {
            let bytes = bytes.ok_or(StoreError::NothingPublished)?;
            let out = dir.join(name);
            write_atomic(&out, &bytes, FileMode::Public)
                .map_err(Self::io("writing export", &out))?;
        }
        Ok(())
    }
}

fn checked_validity(validity: Duration) -> Result<u64, StoreError> {
    let secs = validity.as_secs();
    if secs == 0 || secs > 100 * 366 * 86_400 {
        return Err(StoreError::InvalidValidity);
    }
    Ok(secs)
}

/// Reads the store's state-file payload: issuer, entry count, entries.
fn decode_store(payload: &[u8]) -> Result<(String, StoreState), crate::DecodeError> {
    let mut r = Reader::new(payload);
    let issuer = r.issuer()?;
    let count = r.u64()?;
    let mut state = StoreState::default();
    for _ in 0..count {
        let id = RevocationId::from_digest_bytes(r.array()?);
        let revoked_at = r.time()?;
        let expires_at = r.time()?;
        let has_reason = r.u8()?;
        let code = r.u8()?;
        let reason = (has_reason == 1).then(|| RevocationReason::from_code(code));
        state.entries.insert(
            id,
            RevocationEntry::from_unix(id, revoked_at, expires_at, reason),
        );
    }
    r.finish()?;
    Ok((issuer, state))
}
