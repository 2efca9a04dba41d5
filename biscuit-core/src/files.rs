//! Durable files: the one place the project writes and reads state, keys
//! and published files.
//!
//! - [`write_atomic`] replaces a file so that a reader, or a crash, sees
//!   either the old or the new content, never a mix: the bytes go to a temp
//!   file in the same folder (named by the `tempfile` crate, see
//!   [`is_temp_file_name`]), which is synced, renamed over the destination,
//!   and the folder synced.
//! - [`create_new_private`] does the same for a file that must not exist
//!   yet (a new key): it never overwrites, even a file created concurrently.
//! - [`read_bounded`] reads a whole file of at most a given size into a
//!   buffer that is zeroized when dropped (key files are read this way).
//! - [`sync_dir`] makes a rename or a creation in a folder durable.

use std::io::{self, Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

/// Who may read a file written by [`write_atomic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileMode {
    /// Readable and writable by the owner only (0600 on Unix): keys and
    /// local state that other users have no business reading or replacing.
    Private,
    /// Readable by everyone, writable by the owner (0644 on Unix, less the
    /// umask): files published for others to serve.
    Public,
}

/// The name every temp file written here ends with.
const TEMP_SUFFIX: &str = ".tmp";

/// Whether `name` is the name of a temp file [`write_atomic`] or
/// [`create_new_private`] creates (a dot, then anything, then `.tmp`). A
/// writer that dies mid-write leaves one behind; whoever holds the lock
/// that writers of a folder take may remove them.
pub fn is_temp_file_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// The folder `path` is in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to a synced temp file next to `path`, with `mode`.
fn temp_file(path: &Path, bytes: &[u8], mode: FileMode) -> io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bits = match mode {
            FileMode::Private => 0o600,
            FileMode::Public => 0o644,
        };
        builder.permissions(std::fs::Permissions::from_mode(bits));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = builder.tempfile_in(parent_dir(path))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    Ok(file)
}

/// Replaces `path` with `bytes` atomically and durably (temp file, fsync,
/// rename, fsync of the folder). On error the previous content, if any, is
/// intact and the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: FileMode) -> io::Result<()> {
    let file = temp_file(path, bytes, mode)?;
    file.persist(path).map_err(|e| e.error)?;
    sync_dir(parent_dir(path))
}

/// Creates `path` with `bytes`, readable by its owner only (0600), durably
/// and atomically; never replaces an existing file, even one created
/// concurrently: that fails with [`io::ErrorKind::AlreadyExists`].
pub fn create_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if path.exists() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    let file = temp_file(path, bytes, FileMode::Private)?;
    file.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(parent_dir(path))
}

/// Reads the whole of `path`, refusing a file larger than `max` bytes with
/// [`io::ErrorKind::FileTooLarge`] (at most `max + 1` bytes are ever read).
/// The buffer is zeroized when dropped, so it may hold a secret.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let expected = file.metadata().map_or(0, |m| m.len()).min(max);
    let capacity = usize::try_from(expected).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// Makes a rename or creation in `dir` durable. A no-op where folders
/// cannot be synced (not Unix).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replace_is_atomic_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomic(&path, b"one", FileMode::Private).unwrap();
        write_atomic(&path, b"two", FileMode::Private).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state"]);
        #[cfg(unix)]
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn create_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create_new_private(&path, b"first").unwrap();
        let err = create_new_private(&path, b"second").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        #[cfg(unix)]
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn bounded_reads_refuse_larger_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, &[7; 100], FileMode::Public).unwrap();
        assert_eq!(read_bounded(&path, 100).unwrap().len(), 100);
        let err = read_bounded(&path, 99).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(is_temp_file_name(".state.abc123.tmp"));
        assert!(!is_temp_file_name("state.tmp"));
    }
}
