//! `--revocation-list SOURCE --revocation-public-key K`: a published
//! folder, a list file, or an http(s) base URL, loaded into a
//! [`VerifierState`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentcap_revocation::{
    DEFAULT_MAX_LIST_BYTES, Fetcher, HEAD_FILE, LIST_FILE, ListVerifyingKey, RevocationList,
    TrustedListKeys, VerifierConfig, VerifierState,
};

use crate::cli::RevocationSourceArgs;
use crate::error::{CliError, CliResult, Kind, ResultExt};
use crate::input::list_public_key;

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

/// The validated revocation options.
#[derive(Debug, Clone)]
pub(crate) struct RevocationSource {
    /// Where the list comes from.
    pub source: Source,
    /// The list key trusted.
    pub key: ListVerifyingKey,
}

impl RevocationSource {
    /// Validates `--revocation-list` and `--revocation-public-key`.
    pub fn from_args(args: &RevocationSourceArgs) -> CliResult<Option<Self>> {
        let (Some(list), Some(key)) = (&args.revocation_list, &args.revocation_public_key) else {
            return Ok(None);
        };
        let key = list_public_key(key)?;
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
        Ok(Some(Self { source, key }))
    }

    fn keys(&self) -> TrustedListKeys {
        TrustedListKeys::from(self.key)
    }

    fn state_for(&self, list: &[u8]) -> CliResult<Arc<VerifierState>> {
        // The list names its issuer; its signature is checked before use.
        let (decoded, _) =
            RevocationList::decode_verified(list, &self.keys(), DEFAULT_MAX_LIST_BYTES).map_err(
                |e| {
                    CliError::new(Kind::Denied, e)
                        .context("the revocation list does not verify with --revocation-public-key")
                },
            )?;
        let config = VerifierConfig::new(decoded.issuer(), self.keys());
        let state = VerifierState::in_memory(config).or_fail(Kind::Usage, "revocation state")?;
        state
            .accept_list(list)
            .or_fail(Kind::Denied, "refusing the revocation list")?;
        Ok(Arc::new(state))
    }

    /// Loads the list once. For a URL, also returns a [`Fetcher`] to keep
    /// the state current.
    pub async fn load(&self) -> CliResult<(Arc<VerifierState>, Option<Fetcher>)> {
        match &self.source {
            Source::Files { list, head } => {
                let bytes = std::fs::read(list).or_fail(
                    Kind::Io,
                    format!("reading revocation list {}", list.display()),
                )?;
                let state = self.state_for(&bytes)?;
                if let Some(head) = head {
                    let head_bytes = std::fs::read(head)
                        .or_fail(Kind::Io, format!("reading {}", head.display()))?;
                    // A head only extends freshness; a refused one changes nothing.
                    let _ = state.accept_head(&head_bytes);
                }
                Ok((state, None))
            }
            Source::Url(base) => {
                let url = format!("{}/{LIST_FILE}", base.trim_end_matches('/'));
                let bytes = fetch(&url).await?;
                let state = self.state_for(&bytes)?;
                let fetcher =
                    Fetcher::new(base, state.clone()).or_fail(Kind::Usage, "--revocation-list")?;
                // Picks up the head (and anything newer).
                fetcher
                    .poll_once()
                    .await
                    .or_fail(Kind::Io, "fetching the revocation head")?;
                Ok((state, Some(fetcher)))
            }
        }
    }
}

async fn fetch(url: &str) -> CliResult<Vec<u8>> {
    let response = reqwest::get(url)
        .await
        .or_fail(Kind::Io, format!("fetching {url}"))?;
    if !response.status().is_success() {
        return Err(CliError::io(format!(
            "fetching {url}: status {}",
            response.status()
        )));
    }
    let bytes = response
        .bytes()
        .await
        .or_fail(Kind::Io, format!("fetching {url}"))?;
    if bytes.len() > DEFAULT_MAX_LIST_BYTES {
        return Err(CliError::io(format!("{url} is too large")));
    }
    Ok(bytes.to_vec())
}
