//! Reading what the user gives: tokens (argument, `@FILE` or `-` for stdin),
//! public keys, and secrets (only from files, environment variables or
//! stdin; never from argument values).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use agentcap::{KeyPair, PublicKey, Token};
use agentcap_revocation::{ListSigningKey, ListVerifyingKey};
use zeroize::Zeroizing;

use crate::error::{CliError, CliResult, Kind, ResultExt};

/// Environment variable holding the issuer's root private key (for `mint`).
pub const ROOT_KEY_ENV: &str = "AGENTCAP_ROOT_KEY";
/// Environment variable holding an agent's private key (for `attenuate`).
pub const SIGNING_KEY_ENV: &str = "AGENTCAP_SIGNING_KEY";
/// Environment variable holding the revocation list signing key (PEM).
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

/// Reads a small text file (a token, a key, a policy).
pub fn read_text_file(path: &Path, what: &str) -> CliResult<Zeroizing<String>> {
    let file = std::fs::File::open(path)
        .or_fail(Kind::Io, format!("reading {what} {}", path.display()))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .or_fail(Kind::Io, format!("reading {what} {}", path.display()))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::usage(format!(
            "{what} {} is too large",
            path.display()
        )));
    }
    Ok(text)
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
    let text = read_text_file(path, "public key file")?;
    if looks_like_secret(&text) {
        return Err(CliError::usage(format!(
            "{option}: {} holds a private key (or bare hex, which may be one), not a public key; \
             pass the public key (`agentcap keys public --key-file FILE` prints it)",
            path.display()
        )));
    }
    PublicKey::from_text(&text).map_err(|e| {
        CliError::usage(format!(
            "{option}: {} does not hold a public key ({e})",
            path.display()
        ))
    })
}

/// Parses a revocation list public key: 64 hex digits (optionally
/// `ed25519/<hex>`), or `@FILE` holding it.
pub fn list_public_key(arg: &str) -> CliResult<ListVerifyingKey> {
    let option = "--revocation-public-key";
    let text: Zeroizing<String> = match arg.trim().strip_prefix('@') {
        Some(path) => read_text_file(Path::new(path), "revocation public key file")?,
        None => Zeroizing::new(arg.trim().to_owned()),
    };
    let t = text.trim();
    if t.contains("PRIVATE KEY") || t.starts_with("ed25519-private/") {
        return Err(CliError::usage(format!(
            "{option} expects a public key, but the value looks like a private key"
        )));
    }
    let hex = t.strip_prefix("ed25519/").unwrap_or(t);
    ListVerifyingKey::from_hex(hex)
        .map_err(|e| CliError::usage(format!("{option}: not a revocation list public key: {e}")))
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

    /// The key text, or `None` when neither a file nor the variable is set.
    fn text(&self) -> CliResult<Option<Zeroizing<String>>> {
        match &self.file {
            Some(path) if path == Path::new("-") => read_stdin("the private key").map(Some),
            Some(path) => read_text_file(path, "key file").map(Some),
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

    /// An agentcap key pair, if one was given.
    pub fn keypair_opt(&self) -> CliResult<Option<KeyPair>> {
        let Some(text) = self.text()? else {
            return Ok(None);
        };
        KeyPair::from_text(&text)
            .map(Some)
            .map_err(|_| CliError::usage(format!("{}: not a private key", self.origin())))
    }

    /// An agentcap key pair; missing is a usage error.
    pub fn keypair(&self) -> CliResult<KeyPair> {
        self.keypair_opt()?.ok_or_else(|| self.missing())
    }

    /// A revocation list signing key (PKCS#8 PEM).
    pub fn list_key(&self) -> CliResult<ListSigningKey> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let text = self.text()?.ok_or_else(|| self.missing())?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(text.trim()).map_err(|_| {
            CliError::usage(format!(
                "{}: not a revocation list signing key (PKCS#8 PEM)",
                self.origin()
            ))
        })?;
        let seed = Zeroizing::new(key.to_bytes());
        Ok(ListSigningKey::from_seed(&seed))
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
/// duration meaning that long ago (`10m`, `2h`).
pub fn time_point(text: &str, option: &str) -> CliResult<SystemTime> {
    let t = text.trim();
    if let Ok(at) = humantime::parse_rfc3339_weak(t) {
        return Ok(at);
    }
    let ago = humantime::parse_duration(t).map_err(|_| {
        CliError::usage(format!(
            "{option}: expected an RFC 3339 time (2026-11-22T10:00:00Z) or a duration ago (10m)"
        ))
    })?;
    SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| CliError::usage(format!("{option}: too far in the past")))
}
