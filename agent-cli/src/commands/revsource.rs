//! `--revocation-list SOURCE --revocation-public-key K`: a published
//! folder, a list file, or an http(s) base URL, loaded into a persisted
//! [`RevocationState`] so that an older list is refused across runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentcap::PublicKey;
use agentcap_revocation::{
    AcceptError, AcceptOutcome, DEFAULT_MAX_LIST_BYTES, FetchError, Fetcher, HEAD_FILE, LIST_FILE,
    RevocationList, RevocationState, RevocationStateConfig, TrustedListKeys,
};

use crate::cli::RevocationSourceArgs;
use crate::error::{CliError, CliResult, Kind, ResultExt};
use crate::input::{check_path_arg, public_key};

/// The environment variable naming the folder of verifier state files.
pub(crate) const STATE_DIR_ENV: &str = "AGENTCAP_STATE_DIR";

/// Where the revocation list comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A list file, with the head file next to it if any.
    Files {
        list: PathBuf,
        head: Option<PathBuf>,
    },
    /// An http(s) base URL serving `head.bin`, `list.bin`, `deltas/`.
    Url(String),
}

/// How a refused list is treated while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnRefused {
    /// Fail (`verify`): the run must not look as if the source were fine.
    Fail,
    /// Report it and keep the persisted state (`serve`), as long as there
    /// is one.
    KeepState,
}

/// The validated revocation options.
#[derive(Debug, Clone)]
pub(crate) struct RevocationSource {
    /// Where the list comes from.
    pub source: Source,
    /// The list key trusted.
    pub key: PublicKey,
    /// `--revocation-state`, if given.
    state_file: Option<PathBuf>,
}

/// A loaded revocation state, and what went wrong short of failing.
pub(crate) struct Loaded {
    /// The state, persisted.
    pub state: Arc<RevocationState>,
    /// For a URL source, the fetcher that keeps the state current.
    pub fetcher: Option<Fetcher>,
    /// Problems worth telling the operator (refused heads or lists, a
    /// source that is out of date). Never contain secrets.
    pub warnings: Vec<String>,
}

impl RevocationSource {
    /// Validates `--revocation-list`, `--revocation-public-key` and
    /// `--revocation-state`.
    pub fn from_args(args: &RevocationSourceArgs) -> CliResult<Option<Self>> {
        let (Some(list), Some(key)) = (&args.revocation_list, &args.revocation_public_key) else {
            return Ok(None);
        };
        let key = public_key(key, "--revocation-public-key")?;
        if let Some(path) = &args.revocation_state {
            check_path_arg(path, "--revocation-state", None)?;
        }
        let source = if list.starts_with("http://") || list.starts_with("https://") {
            Source::Url(list.clone())
        } else {
            let path = Path::new(list);
            if path.is_dir() {
                // An exported folder, or a store folder's `published/`.
                let dir = if path.join(LIST_FILE).is_file() {
                    path.to_path_buf()
                } else {
                    path.join("published")
                };
                let head = dir.join(HEAD_FILE);
                Source::Files {
                    list: dir.join(LIST_FILE),
                    head: head.is_file().then_some(head),
                }
            } else {
                Source::Files {
                    list: path.to_path_buf(),
                    head: None,
                }
            }
        };
        Ok(Some(Self {
            source,
            key,
            state_file: args.revocation_state.clone(),
        }))
    }

    fn keys(&self) -> TrustedListKeys {
        TrustedListKeys::from(self.key)
    }

    /// Opens the persisted state that follows `issuer`'s lists signed by
    /// the trusted key.
    fn open_state(&self, issuer: &str) -> CliResult<Arc<RevocationState>> {
        let path = match &self.state_file {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    create_private_dir(parent)?;
                }
                path.clone()
            }
            None => default_state_path(issuer, &self.key)?,
        };
        let config = RevocationStateConfig::new(issuer, self.keys());
        RevocationState::open(&path, config)
            .map(Arc::new)
            .or_fail(Kind::Io, "opening the revocation state")
    }

    /// Loads the source into the persisted state. For a URL, also returns
    /// a [`Fetcher`] to keep the state current.
    pub async fn load(&self, on_refused: OnRefused) -> CliResult<Loaded> {
        match &self.source {
            Source::Files { list, head } => self.load_files(list, head.as_deref(), on_refused),
            Source::Url(base) => self.load_url(base, on_refused).await,
        }
    }

    fn load_files(
        &self,
        list: &Path,
        head: Option<&Path>,
        on_refused: OnRefused,
    ) -> CliResult<Loaded> {
        // The head first: the publisher writes the list before the head, so
        // a list read after a head is never older than it.
        let head_bytes = head
            .map(|h| std::fs::read(h).or_fail(Kind::Io, format!("reading {}", h.display())))
            .transpose()?;
        let bytes = std::fs::read(list).or_fail(
            Kind::Io,
            format!("reading revocation list {}", list.display()),
        )?;
        // The list names its issuer; its signature is checked before use.
        let (decoded, _) =
            RevocationList::decode_verified(&bytes, &self.keys(), DEFAULT_MAX_LIST_BYTES).map_err(
                |e| {
                    CliError::new(Kind::Denied, e)
                        .context("the revocation list does not verify with --revocation-public-key")
                },
            )?;
        let state = self.open_state(decoded.issuer())?;
        let mut warnings = Vec::new();
        if let Err(e) = state.accept_list(&bytes) {
            refused_list(&state, list.display(), e, on_refused, &mut warnings)?;
        }
        if let Some(head_bytes) = head_bytes {
            warnings.extend(head_problem(&state, state.accept_head(&head_bytes)));
        }
        Ok(Loaded {
            state,
            fetcher: None,
            warnings,
        })
    }

    async fn load_url(&self, base: &str, on_refused: OnRefused) -> CliResult<Loaded> {
        let builder = Fetcher::builder(base);
        // The signed head names the issuer, which picks the state file.
        let head = builder
            .fetch_head(&self.keys())
            .await
            .map_err(|e| fetch_failure(e, "fetching the revocation head"))?;
        let state = self.open_state(head.issuer())?;
        let fetcher = builder
            .build(state.clone())
            .or_fail(Kind::Usage, "--revocation-list")?;
        let mut warnings = Vec::new();
        match fetcher.poll_once().await {
            Ok(_) => {}
            Err(FetchError::Refused { url, source }) => {
                refused_list(&state, url, source, on_refused, &mut warnings)?;
            }
            Err(e @ FetchError::StillBehind { .. }) => warnings.push(format!(
                "{e}: the held list is out of date, so decisions fail closed \
                 (revocation_list_stale)"
            )),
            Err(e) if state.sequence().is_some() => warnings.push(format!(
                "{e}; deciding with the revocation list sequence {} held from an earlier run",
                state.sequence().unwrap_or_default()
            )),
            Err(e) => return Err(fetch_failure(e, "fetching the revocation list")),
        }
        Ok(Loaded {
            state,
            fetcher: Some(fetcher),
            warnings,
        })
    }
}

/// A list the state refused: an error for `verify`; for `serve` a warning,
/// as long as an earlier run left a list to decide with.
fn refused_list(
    state: &RevocationState,
    what: impl std::fmt::Display,
    error: AcceptError,
    on_refused: OnRefused,
    warnings: &mut Vec<String>,
) -> CliResult<()> {
    let held = state.sequence();
    match (on_refused, held) {
        (OnRefused::KeepState, Some(held)) => {
            warnings.push(format!(
                "refusing the revocation list from {what}: {error}; keeping sequence {held}"
            ));
            Ok(())
        }
        _ => Err(CliError::new(Kind::Denied, error)
            .context(format!("refusing the revocation list from {what}"))),
    }
}

/// What to tell about a head that was not simply taken.
fn head_problem(
    state: &RevocationState,
    outcome: Result<AcceptOutcome, AcceptError>,
) -> Option<String> {
    match outcome {
        Ok(AcceptOutcome::Behind { current, available }) => Some(format!(
            "the revocation head announces sequence {available}, newer than the list \
             (sequence {}): the list is out of date, so decisions fail closed \
             (revocation_list_stale)",
            current.map_or_else(|| "none".to_owned(), |n| n.to_string())
        )),
        Ok(_) => None,
        Err(e) => Some(format!(
            "ignoring the revocation head: {e} (the held list is sequence {})",
            state
                .sequence()
                .map_or_else(|| "none".to_owned(), |n| n.to_string())
        )),
    }
}

/// A fetch failure: refused content is a denial, the rest I/O.
fn fetch_failure(error: FetchError, what: &'static str) -> CliError {
    let kind = match error {
        FetchError::Refused { .. } => Kind::Denied,
        _ => Kind::Io,
    };
    CliError::new(kind, error).context(what)
}

/// The state file used when `--revocation-state` is not given: one per
/// issuer and list key, in `$AGENTCAP_STATE_DIR`, else
/// `$XDG_STATE_HOME/agentcap`, else `~/.local/state/agentcap`.
fn default_state_path(issuer: &str, key: &PublicKey) -> CliResult<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = if let Some(dir) = non_empty(STATE_DIR_ENV) {
        PathBuf::from(dir)
    } else if let Some(dir) = non_empty("XDG_STATE_HOME") {
        PathBuf::from(dir).join("agentcap")
    } else if let Some(home) = non_empty("HOME") {
        PathBuf::from(home).join(".local/state/agentcap")
    } else {
        return Err(CliError::usage(format!(
            "no place for the revocation state: set {STATE_DIR_ENV} or pass --revocation-state FILE"
        )));
    };
    create_private_dir(&dir)?;
    Ok(dir.join(state_file_name(issuer, key)))
}

/// `revocation-<32 hex digits>.state`, from a hash of the issuer and the
/// key: names stay short and safe whatever the issuer name holds.
fn state_file_name(issuer: &str, key: &PublicKey) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"agentcap verifier state\0");
    hash.update((issuer.len() as u64).to_le_bytes());
    hash.update(issuer.as_bytes());
    hash.update(key.to_bytes());
    let digest = hash.finalize();
    format!("revocation-{}.state", hex::encode(&digest[..16]))
}

/// Creates `dir` (and its parents) accessible to the owner only, if it
/// does not exist; an existing folder is left as it is.
fn create_private_dir(dir: &Path) -> CliResult<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).or_fail(
        Kind::Io,
        format!("creating the revocation state folder {}", dir.display()),
    )
}
