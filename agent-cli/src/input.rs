//! Reading what the user gives: tokens (argument, `@FILE` or `-` for stdin),
//! public keys, and secrets (only from files, environment variables or
//! stdin; never from argument values).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use agentcap::unix_time::{self, DurationMeans};
use agentcap::{KeyPair, PublicKey, Token};
use zeroize::Zeroizing;

use crate::error::{CliError, CliResult, Kind, ResultExt};

/// Environment variable holding the issuer's root private key (for `mint`).
pub const ROOT_KEY_ENV: &str = "AGENTCAP_ROOT_KEY";
/// Environment variable holding an agent's private key (for `attenuate`).
pub const SIGNING_KEY_ENV: &str = "AGENTCAP_SIGNING_KEY";
/// Environment variable holding the revocation list signing key.
pub const LIST_KEY_ENV: &str = "AGENTCAP_LIST_SIGNING_KEY";

/// The largest token, key or list file read from a file or stdin.
const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// Whether `text` looks like a private key: `ed25519-private/...`, 64 or
/// 128 hex digits, or a PEM private key. Used to refuse secrets passed
/// where a file path or a token is expected.
pub fn looks_like_secret(text: &str) -> bool {
    let t = text.trim();
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    t.starts_with("ed25519-private/")
        || t.starts_with("secp256r1-private/")
        || ((t.len() == 64 || t.len() == 128) && is_hex(t))
        || (t.contains("-----BEGIN") && t.contains("PRIVATE KEY"))
}

/// The one-line refusal for a secret found in an argument; never echoes it.
pub fn secret_refusal(option: &str, env: Option<&str>) -> CliError {
    let alternative = match env {
        Some(env) => {
            format!("put it in a file (mode 0600), pass it on stdin with `-`, or set {env}")
        }
        None => "put it in a file (mode 0600) or pass it on stdin with `-`".to_owned(),
    };
    CliError::usage(format!(
        "{option} expects a file path, but the value looks like a private key; secrets are \
         never accepted as argument values (they leak into shell history and process lists): \
         {alternative}"
    ))
}

/// Checks that a path argument is not a secret pasted in its place.
pub fn check_path_arg(path: &Path, option: &str, env: Option<&str>) -> CliResult<()> {
    match path.to_str() {
        Some(text) if looks_like_secret(text) => Err(secret_refusal(option, env)),
        _ => Ok(()),
    }
}

fn read_stdin(what: &str) -> CliResult<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .or_fail(Kind::Io, format!("reading {what} from stdin"))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::usage(format!("{what} on stdin is too large")));
    }
    Ok(text)
}

/// Reads a small text file (a token, a policy) with
/// [`agentcap::files::read_bounded`].
pub fn read_text_file(path: &Path, what: &str) -> CliResult<Zeroizing<String>> {
    let bytes = agentcap::files::read_bounded(path, MAX_INPUT_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            CliError::usage(format!("{what} {} is too large", path.display()))
        } else {
            CliError::new(Kind::Io, e).context(format!("reading {what} {}", path.display()))
        }
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::usage(format!("{what} {} is not text", path.display())))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Where a token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The token itself, as an argument.
    Literal(String),
    /// `@FILE`.
    File(PathBuf),
    /// `-`.
    Stdin,
}

impl TokenSource {
    /// Reads `TOKEN`, `@FILE` or `-`.
    pub fn parse(arg: &str) -> CliResult<Self> {
        if arg == "-" {
            Ok(Self::Stdin)
        } else if let Some(path) = arg.strip_prefix('@') {
            if path.is_empty() {
                return Err(CliError::usage("`@` must be followed by a file name"));
            }
            Ok(Self::File(PathBuf::from(path)))
        } else if looks_like_secret(arg) {
            Err(CliError::usage(
                "the TOKEN argument looks like a private key, not a token; never pass secrets \
                 as arguments",
            ))
        } else {
            Ok(Self::Literal(arg.trim().to_owned()))
        }
    }

    /// Whether this reads stdin.
    pub fn is_stdin(&self) -> bool {
        matches!(self, Self::Stdin)
    }

    /// The token text (base64), trimmed.
    pub fn read(&self) -> CliResult<String> {
        let text = match self {
            Self::Literal(t) => return Ok(t.clone()),
            Self::File(path) => read_text_file(path, "token file")?,
            Self::Stdin => read_stdin("the token")?,
        };
        let token = text.trim().to_owned();
        if token.is_empty() {
            return Err(CliError::denied("malformed token: empty input"));
        }
        Ok(token)
    }

    /// Reads the token without verifying it.
    pub fn load_unverified(&self) -> CliResult<(String, Token)> {
        let text = self.read()?;
        let token = Token::from_base64(&text).map_err(CliError::from)?;
        Ok((text, token))
    }
}

/// Parses a public key argument: `ed25519/<hex>`, PEM, or `@FILE` (or a
/// path to an existing file) holding one of those. Anything that is or may
/// be a private key (`ed25519-private/...`, a private-key PEM, bare hex) is
/// refused, and the refused value is never echoed.
pub fn public_key(arg: &str, option: &str) -> CliResult<PublicKey> {
    let trimmed = arg.trim();
    if let Some(path) = trimmed.strip_prefix('@') {
        return load_public_key_file(Path::new(path), option);
    }
    if looks_like_secret(trimmed) {
        return Err(CliError::usage(format!(
            "{option} expects a public key, but the value looks like a private key (or is bare \
             hex, which may be one); never pass secrets as arguments; a public key is written \
             ed25519/<64 hex digits> or as a PEM public key"
        )));
    }
    match PublicKey::from_text(trimmed) {
        Ok(key) => Ok(key),
        Err(_) if Path::new(trimmed).is_file() => load_public_key_file(Path::new(trimmed), option),
        Err(_) => Err(CliError::usage(format!(
            "{option}: not a public key (expected ed25519/<64 hex digits>, a PEM public key, or \
             @FILE)"
        ))),
    }
}

fn load_public_key_file(path: &Path, option: &str) -> CliResult<PublicKey> {
    PublicKey::load(path).map_err(|e| match e {
        agentcap::Error::Io { source, .. } => CliError::io(format!(
            "reading public key file {}: {source}",
            path.display()
        )),
        e => CliError::usage(format!(
            "{option}: {} does not hold a public key ({e}); pass the public key \
             (`agentcap keys public --key-file FILE` prints it)",
            path.display()
        )),
    })
}

/// Where a private key comes from: a file (`-` for stdin), else an
/// environment variable.
#[derive(Debug, Clone)]
pub struct SecretSource {
    /// The option that names the file, for messages.
    pub option: &'static str,
    /// The file, if given (`-` is stdin).
    pub file: Option<PathBuf>,
    /// The environment variable consulted when no file is given.
    pub env: &'static str,
}

impl SecretSource {
    /// A source from a `--...-file` option and its environment variable,
    /// refusing a secret pasted in place of the path.
    pub fn new(option: &'static str, file: Option<PathBuf>, env: &'static str) -> CliResult<Self> {
        if let Some(path) = &file {
            check_path_arg(path, option, Some(env))?;
        }
        Ok(Self { option, file, env })
    }

    /// Whether the key is read from stdin.
    pub fn is_stdin(&self) -> bool {
        self.file.as_deref() == Some(Path::new("-"))
    }

    /// The key text from stdin or the variable, or `None` when neither is
    /// set (a key file is read by [`KeyPair::load`] instead).
    fn text(&self) -> CliResult<Option<Zeroizing<String>>> {
        match &self.file {
            Some(path) if path == Path::new("-") => read_stdin("the private key").map(Some),
            Some(_) => Ok(None),
            None => match std::env::var(self.env) {
                Ok(value) => Ok(Some(Zeroizing::new(value))),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(CliError::usage(format!("{} is not valid UTF-8", self.env)))
                }
            },
        }
    }

    fn origin(&self) -> String {
        match &self.file {
            Some(path) if path == Path::new("-") => "the key on stdin".to_owned(),
            Some(path) => format!("key file {}", path.display()),
            None => format!("${}", self.env),
        }
    }

    /// The key pair, if one was given: any form `agentcap keys generate`
    /// writes (`ed25519-private/<hex>` or PKCS#8 PEM), for root, agent and
    /// revocation list keys alike.
    pub fn keypair_opt(&self) -> CliResult<Option<KeyPair>> {
        let not_a_key = || CliError::usage(format!("{}: not a private key", self.origin()));
        if let Some(path) = self.file.as_deref().filter(|p| *p != Path::new("-")) {
            return KeyPair::load(path).map(Some).map_err(|e| match e {
                agentcap::Error::Io { source, .. } => {
                    CliError::io(format!("reading key file {}: {source}", path.display()))
                }
                _ => not_a_key(),
            });
        }
        let Some(text) = self.text()? else {
            return Ok(None);
        };
        KeyPair::from_text(&text).map(Some).map_err(|_| not_a_key())
    }

    /// The key pair; missing is a usage error.
    pub fn keypair(&self) -> CliResult<KeyPair> {
        self.keypair_opt()?.ok_or_else(|| self.missing())
    }

    fn missing(&self) -> CliError {
        CliError::usage(format!(
            "no key given: pass {} FILE (or `-` for stdin), or set {}",
            self.option, self.env
        ))
    }
}

/// Parses a duration such as `1h`, `5m`, `30s`.
pub fn duration(text: &str, option: &str) -> CliResult<Duration> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| CliError::usage(format!("{option}: {e} (examples: 1h, 5m, 30s)")))?;
    if d.as_secs() == 0 {
        return Err(CliError::usage(format!(
            "{option}: must be at least one second"
        )));
    }
    Ok(d)
}

/// Parses a point in time: RFC 3339 (`2026-11-22T10:00:00Z`), or a
/// duration counted from now in the direction `means` says (`10m`: ten
/// minutes ago with [`DurationMeans::Ago`], in ten minutes with
/// [`DurationMeans::FromNow`]).
pub fn time_point(text: &str, option: &str, means: DurationMeans) -> CliResult<SystemTime> {
    unix_time::parse_time_or_duration(text, SystemTime::now(), means).map_err(|e| {
        let example = match means {
            DurationMeans::Ago => "a duration ago (10m)",
            DurationMeans::FromNow => "a duration from now (1h)",
        };
        CliError::usage(format!(
            "{option}: {e}; e.g. 2026-11-22T10:00:00Z or {example}"
        ))
    })
}
