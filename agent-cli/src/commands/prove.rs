//! `agentcap prove`: the headers that prove possession of a key-bound token
//! for one HTTP request (RFC 9421 message signature, RFC 9530 digest).

use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use agentcap::{HolderProof, ProofRequest};
use reqwest::Url;
use serde_json::json;

use crate::Outcome;
use crate::cli::ProveArgs;
use crate::error::{CliError, CliResult, Kind, ResultExt};
use crate::input::{SIGNING_KEY_ENV, SecretSource, TokenSource};
use crate::output::{Format, emit};

/// The largest request body read (it is hashed, not kept).
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Where the body comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BodySource {
    /// No body: the digest of the empty body.
    Empty,
    /// `@FILE`.
    File(PathBuf),
    /// `-`.
    Stdin,
}

/// The validated `prove` configuration.
struct ProveConfig {
    token: TokenSource,
    key: SecretSource,
    method: String,
    /// `host[:port]`, lowercased, default port omitted (RFC 9421 `@authority`).
    authority: String,
    path: String,
    query: Option<String>,
    body: BodySource,
}

impl ProveConfig {
    fn from_args(args: ProveArgs) -> CliResult<Self> {
        let token = TokenSource::parse(&args.token)?;
        let key = SecretSource::new("--signing-key-file", args.signing_key_file, SIGNING_KEY_ENV)?;
        let method = args.method.trim().to_owned();
        if method.is_empty()
            || !method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(CliError::usage(format!(
                "--method {:?}: expected an HTTP method such as GET or POST",
                args.method
            )));
        }
        let url = Url::parse(args.url.trim())
            .map_err(|e| CliError::usage(format!("--url {:?}: {e}", args.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CliError::usage(format!(
                "--url {:?}: only http and https URLs can be signed",
                args.url
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| CliError::usage(format!("--url {:?}: the URL has no host", args.url)))?;
        // The URL parser lowercases the host and drops the scheme's default port.
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let body = match args.body.as_deref() {
            None => BodySource::Empty,
            Some("-") => BodySource::Stdin,
            Some(arg) => match arg.strip_prefix('@') {
                Some(path) if !path.is_empty() => BodySource::File(PathBuf::from(path)),
                _ => {
                    return Err(CliError::usage(
                        "--body: give the body as @FILE, or - for stdin",
                    ));
                }
            },
        };
        let stdin_users = [token.is_stdin(), key.is_stdin(), body == BodySource::Stdin];
        if stdin_users.iter().filter(|&&s| s).count() > 1 {
            return Err(CliError::usage(
                "only one of the token, the key and the body can come from stdin",
            ));
        }
        Ok(Self {
            token,
            key,
            method,
            authority,
            path: url.path().to_owned(),
            query: url.query().map(str::to_owned),
            body,
        })
    }
}

/// Reads the body, bounded.
fn read_body(source: &BodySource) -> CliResult<Vec<u8>> {
    let (reader, what): (Box<dyn Read>, String) = match source {
        BodySource::Empty => return Ok(Vec::new()),
        BodySource::Stdin => (Box::new(std::io::stdin()), "the body from stdin".to_owned()),
        BodySource::File(path) => (
            Box::new(
                std::fs::File::open(path)
                    .or_fail(Kind::Io, format!("reading the body {}", path.display()))?,
            ),
            format!("the body {}", path.display()),
        ),
    };
    let mut body = Vec::new();
    reader
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
        .or_fail(Kind::Io, format!("reading {what}"))?;
    if body.len() as u64 > MAX_BODY_BYTES {
        return Err(CliError::usage(format!(
            "{what} is larger than {} MiB",
            MAX_BODY_BYTES / 1024 / 1024
        )));
    }
    Ok(body)
}

/// `agentcap prove`: prints the four headers of a proven request.
pub fn run(args: ProveArgs, format: Format) -> CliResult<Outcome> {
    let config = ProveConfig::from_args(args)?;
    let token = config.token.read()?;
    let key = config.key.keypair()?;
    let body = read_body(&config.body)?;
    let request = ProofRequest {
        method: &config.method,
        authority: &config.authority,
        path: &config.path,
        query: config.query.as_deref(),
        token: &token,
        body: &body,
    };
    let headers = HolderProof::sign(&key, &request, SystemTime::now())?;
    let authorization = format!("Bearer {token}");
    emit(
        format,
        || {
            format!(
                "Authorization: {authorization}\nContent-Digest: {}\nSignature-Input: {}\n\
                 Signature: {}",
                headers.content_digest, headers.signature_input, headers.signature
            )
        },
        || {
            json!({
                "Authorization": authorization,
                "Content-Digest": headers.content_digest,
                "Signature-Input": headers.signature_input,
                "Signature": headers.signature,
            })
        },
    );
    Ok(Outcome::Ok)
}
