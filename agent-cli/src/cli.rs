//! The command line, as clap sees it. Values stay raw here; each command
//! validates them into a typed configuration before doing any work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// Delegated, attenuable capability tokens for AI agents.
#[derive(Debug, Parser)]
#[command(
    name = "agentcap",
    version,
    about = "Delegated, attenuable capability tokens (Biscuit) for AI agents",
    long_about = "Delegated, attenuable capability tokens (Biscuit) for AI agents.\n\n\
        Secrets are read only from files, environment variables or stdin, never from \
        argument values. Tokens are given as an argument, as @FILE, or as - (stdin).",
    after_help = "Exit codes: 0 allowed / ok, 1 denied or invalid token, 2 usage or I/O error.\n\n\
        Example (the whole story on loopback):\n  agentcap demo"
)]
pub struct Cli {
    /// Output format: human text, or JSON on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a key pair, or print a key file's public key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Mint a token: a user's grant to an agent, signed by the root key.
    #[command(
        after_help = "Example:\n  agentcap mint --root-key-file root.key --user alice \
        --agent travel-assistant \\\n    --right 'flights/*:read' --right payments/charge:write \
        --cap write:amount<=500 --ttl 1h > token.txt"
    )]
    Mint(MintArgs),
    /// Delegate to a sub-agent: append a hop with narrower rights.
    #[command(
        after_help = "Example:\n  agentcap attenuate @token.txt --to flight-search \
        --signing-key-file assistant.key \\\n    --to-public-key @search.pub --right \
        'flights/*:read' --ttl 5m > search-token.txt"
    )]
    Attenuate(AttenuateArgs),
    /// Restrict a token to one resource and operation for a short time.
    #[command(after_help = "Example:\n  agentcap narrow @token.txt --right \
        flights/lis/2026-12-01:read --ttl 30s")]
    Narrow(NarrowArgs),
    /// Sign one HTTP request with the holder's key: prints the headers to send.
    #[command(
        after_help = "Prints Authorization, Content-Digest, Signature-Input and Signature \
        headers (RFC 9421), one per line, for curl -H @FILE.\n\n\
        Example:\n  agentcap prove @agent.tok --signing-key-file agent.key --method POST \\\n    \
        --url 'http://127.0.0.1:8080/payments/charge?amount=10' --body @body.json > headers.txt\n  \
        curl -H @headers.txt --data-binary @body.json \\\n    \
        'http://127.0.0.1:8080/payments/charge?amount=10'"
    )]
    Prove(ProveArgs),
    /// Show a token's delegation chain as a tree.
    #[command(
        after_help = "Example:\n  agentcap inspect @token.txt --root-public-key @root.pub\n  \
        agentcap inspect - --format json < token.txt"
    )]
    Inspect(InspectArgs),
    /// Decide whether a token allows a request, and explain why.
    #[command(
        after_help = "Example:\n  agentcap verify @token.txt --root-public-key @root.pub \
        --request payments/charge:write --fact amount=120 \\\n    --revocation-list ./published \
        --revocation-public-key @list.pub\n\n\
        Exit codes: 0 allowed, 1 denied (including an invalid, tampered or expired token), \
        2 usage or I/O error."
    )]
    Verify(VerifyArgs),
    /// Revoke a token's block (and everything derived from it), then publish.
    #[command(
        after_help = "Example:\n  agentcap revoke @search-token.txt --block 1 --store \
        ./revocations --signing-key-file list.key\n  agentcap revoke --id <REVOCATION-ID> --store \
        ./revocations --signing-key-file list.key"
    )]
    Revoke(RevokeArgs),
    /// Manage a revocation store: init, list, publish, serve.
    #[command(subcommand)]
    Revocation(RevocationCommand),
    /// Run the example tool server behind the verifier middleware.
    #[command(
        after_help = "Example:\n  agentcap serve --root-public-key @root.pub --listen \
        127.0.0.1:8080 \\\n    --revocation-list http://127.0.0.1:8081/ --revocation-public-key \
        @list.pub --audit-log audit.jsonl"
    )]
    Serve(ServeArgs),
    /// Verify and authorize every request in front of any HTTP or MCP
    /// server (a reverse proxy), with an authorization endpoint for nginx
    /// `auth_request` and Envoy `ext_authz`.
    #[command(
        after_help = "Examples:\n  agentcap gateway --upstream http://127.0.0.1:8000 \
        --listen 127.0.0.1:8080 --root-public-key @root.pub --mcp \\\n    --revocation-list \
        http://127.0.0.1:8081/ --revocation-public-key @list.pub --audit-log audit.jsonl\n\n\
        Allowed requests go upstream without the token, with x-agentcap-user, \
        x-agentcap-agents,\nx-agentcap-proven and x-agentcap-token-id headers (client-sent \
        copies removed).\nEndpoints of its own: /.well-known/oauth-protected-resource (RFC \
        9728) and\n/_agentcap/authz (for nginx auth_request with X-Original-URI and \
        X-Original-Method)."
    )]
    Gateway(GatewayArgs),
    /// Query an audit log (JSON lines).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print shell completions.
    #[command(after_help = "Example:\n  agentcap completions bash > \
        /etc/bash_completion.d/agentcap")]
    Completions(CompletionsArgs),
    /// Run the whole delegation story on loopback, with no set-up.
    #[command(after_help = "Example:\n  agentcap demo\n  agentcap demo --format json")]
    Demo(DemoArgs),
}

/// `agentcap keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an Ed25519 key pair into a file (mode 0600); print its public key.
    #[command(after_help = "Example:\n  agentcap keys generate --out root.key > root.pub")]
    Generate(KeysGenerateArgs),
    /// Print the public key of a private key file.
    #[command(after_help = "Example:\n  agentcap keys public --key-file root.key")]
    Public(KeysPublicArgs),
}

/// `agentcap keys generate`
#[derive(Debug, Args)]
pub struct KeysGenerateArgs {
    /// Where to write the private key (created 0600).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Write the key as PKCS#8 PEM instead of `ed25519-private/<hex>`.
    #[arg(long)]
    pub pem: bool,
}

/// `agentcap keys public`
#[derive(Debug, Args)]
pub struct KeysPublicArgs {
    /// The private key file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
    /// Print the public key as PEM.
    #[arg(long)]
    pub pem: bool,
}

/// Rights, caps and audiences: what `mint` grants, and what `attenuate`
/// passes on (a hop can only narrow: no right the parent lacks, no looser
/// cap, no other audience).
#[derive(Debug, Args)]
pub struct RightsAndCaps {
    /// A right, RESOURCE:OPERATION (repeatable); RESOURCE may end in /* or be *.
    #[arg(long = "right", value_name = "RESOURCE:OP", required = true)]
    pub rights: Vec<String>,
    /// A cap on a request quantity, RESOURCE:OPERATION:BOUNDS with BOUNDS
    /// NAME<=MAX, NAME>=MIN or MIN<=NAME<=MAX (repeatable), e.g.
    /// payments/charge:write:amount<=500.
    #[arg(long = "cap", value_name = "RESOURCE:OP:BOUNDS")]
    pub caps: Vec<String>,
    /// A resource the token is for (an RFC 8707 resource indicator: an
    /// http(s) URI such as https://gw.example/mcp), repeatable; a service
    /// started with another --resource-id refuses the token. A hop may
    /// only name audiences the chain already names (if it names any).
    #[arg(long = "audience", value_name = "URI")]
    pub audiences: Vec<String>,
}

/// `agentcap mint`
#[derive(Debug, Args)]
pub struct MintArgs {
    /// The issuer's root private key file (`-` for stdin); else $AGENTCAP_ROOT_KEY.
    #[arg(long, value_name = "FILE")]
    pub root_key_file: Option<PathBuf>,
    /// The user (human principal) delegating.
    #[arg(long)]
    pub user: String,
    /// The agent receiving the grant.
    #[arg(long)]
    pub agent: String,
    /// Bind the token to the agent's public key (ed25519/<hex>, PEM or @FILE).
    #[arg(long, value_name = "KEY")]
    pub agent_public_key: Option<String>,
    /// The rights and caps.
    #[command(flatten)]
    pub scope: RightsAndCaps,
    /// Lifetime (1h, 30m, ...).
    #[arg(long, default_value = "1h")]
    pub ttl: String,
    /// Maximum delegation depth below the agent.
    #[arg(long)]
    pub max_depth: Option<u32>,
    /// The intent the user approved, recorded in the token.
    #[arg(long)]
    pub intent: Option<String>,
    /// The user's tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The root key id to record (a hint for key rotation).
    #[arg(long)]
    pub root_key_id: Option<u32>,
}

/// `agentcap attenuate`
#[derive(Debug, Args)]
pub struct AttenuateArgs {
    /// The token: the token itself, @FILE, or - for stdin.
    pub token: String,
    /// The sub-agent receiving the hop.
    #[arg(long)]
    pub to: String,
    /// The delegating agent's private key file (`-` for stdin); else
    /// $AGENTCAP_SIGNING_KEY. Given: the hop is signed.
    #[arg(long, value_name = "FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Bind the sub-agent's public key (ed25519/<hex>, PEM or @FILE).
    #[arg(long, value_name = "KEY")]
    pub to_public_key: Option<String>,
    /// The rights and caps.
    #[command(flatten)]
    pub scope: RightsAndCaps,
    /// Lifetime of the hop (default: the parent's remaining life).
    #[arg(long)]
    pub ttl: Option<String>,
    /// A lower maximum depth for the chain below.
    #[arg(long)]
    pub max_depth: Option<u32>,
}

/// `agentcap narrow`
#[derive(Debug, Args)]
pub struct NarrowArgs {
    /// The token: the token itself, @FILE, or - for stdin.
    pub token: String,
    /// The one concrete RESOURCE:OPERATION the token is restricted to.
    #[arg(long, value_name = "RESOURCE:OP")]
    pub right: String,
    /// Lifetime of the narrowed token.
    #[arg(long, default_value = "30s")]
    pub ttl: String,
}

/// `agentcap inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token: the token itself, @FILE, or - for stdin.
    pub token: String,
    /// Verify the signatures against this root public key.
    #[arg(long, value_name = "KEY")]
    pub root_public_key: Option<String>,
}

/// Revocation options shared by `verify` and `serve`.
#[derive(Debug, Args, Clone)]
pub struct RevocationSourceArgs {
    /// A published folder, a list file, or an http(s) base URL.
    #[arg(long, value_name = "SOURCE", requires = "revocation_public_key")]
    pub revocation_list: Option<String>,
    /// The revocation authority's list public key (ed25519/<hex>, PEM or @FILE), as
    /// `revocation init` prints it.
    #[arg(long, value_name = "KEY", requires = "revocation_list")]
    pub revocation_public_key: Option<String>,
    /// Where to keep the newest list accepted, so that an older one is
    /// refused in later runs (created 0600). Default: one file per issuer
    /// and list key in $AGENTCAP_STATE_DIR, else $XDG_STATE_HOME/agentcap,
    /// else ~/.local/state/agentcap.
    #[arg(long, value_name = "FILE", requires = "revocation_list")]
    pub revocation_state: Option<PathBuf>,
}

/// `agentcap verify`
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("presented").required(true).multiple(true).args(["token", "tokens"]))]
pub struct VerifyArgs {
    /// The token: the token itself, @FILE, or - for stdin.
    pub token: Option<String>,
    /// A token (the token itself, @FILE or -), repeatable: with several, a
    /// joint request for several principals, allowed only if every token
    /// allows it; the first (or the positional TOKEN) is the acting agent's.
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// The issuer's root public key (ed25519/<hex>, PEM or @FILE).
    #[arg(long, value_name = "KEY")]
    pub root_public_key: String,
    /// The root key id that key has (when the issuer uses several).
    #[arg(long)]
    pub root_key_id: Option<u32>,
    /// The request, RESOURCE:OPERATION (a concrete resource).
    #[arg(long, value_name = "RESOURCE:OP")]
    pub request: String,
    /// A request fact NAME=VALUE (repeatable); an integer VALUE is a quantity.
    #[arg(long = "fact", value_name = "NAME=VALUE")]
    pub facts: Vec<String>,
    /// A Datalog policy file for the service.
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
    /// Revocation list options.
    #[command(flatten)]
    pub revocation: RevocationSourceArgs,
    /// How far the token issuer's clock may run ahead of ours (0s to 1h;
    /// default: the verifier's, 30s).
    #[arg(long, value_name = "DURATION")]
    pub clock_skew: Option<String>,
    /// The service's own resource identifier (an http(s) URI): tokens that
    /// name audiences are accepted only if they name it. Without it, such
    /// tokens are refused.
    #[arg(long, value_name = "URI")]
    pub resource_id: Option<String>,
}

/// `agentcap revoke`
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["token", "ids"]))]
pub struct RevokeArgs {
    /// The token whose block to revoke: the token itself, @FILE, or -.
    pub token: Option<String>,
    /// Which block of TOKEN (default: its last block, i.e. this token and
    /// everything derived from it).
    #[arg(long, requires = "token")]
    pub block: Option<usize>,
    /// A revocation id to revoke (a block id as `inspect` shows it, or a list
    /// id as `revocation list` shows it); repeatable.
    #[arg(long = "id", value_name = "HEX")]
    pub ids: Vec<String>,
    /// For --id: when the revoked token expires (RFC 3339 or a duration from
    /// now); the entry is kept until then. Default: ten years.
    #[arg(long, value_name = "TIME")]
    pub token_expires: Option<String>,
    /// The revocation store folder.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// The list signing key file (`-` for stdin); else $AGENTCAP_LIST_SIGNING_KEY.
    #[arg(long, value_name = "FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// How long the newly published list stays fresh.
    #[arg(long, default_value = "1h")]
    pub validity: String,
    /// Also export the published list to this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The store's issuer name (default: the one recorded by `revocation init`).
    #[arg(long)]
    pub issuer: Option<String>,
}

/// `agentcap revocation ...`
#[derive(Debug, Subcommand)]
pub enum RevocationCommand {
    /// Create a revocation store and its list signing key; publish an empty list.
    #[command(
        after_help = "Example:\n  agentcap revocation init --store ./revocations \
        --signing-key-file list.key > list.pub"
    )]
    Init(RevocationInitArgs),
    /// List the revoked ids in a store.
    #[command(
        after_help = "Example:\n  agentcap revocation list --store ./revocations \
        --format json"
    )]
    List(RevocationListArgs),
    /// Publish the next signed list and export it as static files.
    #[command(
        after_help = "Example:\n  agentcap revocation publish --store ./revocations \
        --signing-key-file list.key --out ./published"
    )]
    Publish(RevocationPublishArgs),
    /// Serve the signed list over HTTP (ETag, deltas, server-sent events).
    #[command(
        after_help = "Example:\n  agentcap revocation serve --store ./revocations \
        --signing-key-file list.key --listen 127.0.0.1:8081"
    )]
    Serve(RevocationServeArgs),
}

/// `agentcap revocation init`
#[derive(Debug, Args)]
pub struct RevocationInitArgs {
    /// The store folder (created if needed).
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// The list signing key file: created (0600) if absent, used if present
    /// (any key `keys generate` writes, text or PEM).
    #[arg(long, value_name = "FILE")]
    pub signing_key_file: PathBuf,
    /// The revocation authority's name, recorded in every list.
    #[arg(long, default_value = "agentcap")]
    pub issuer: String,
    /// How long the first list stays fresh.
    #[arg(long, default_value = "1h")]
    pub validity: String,
}

/// `agentcap revocation list`
#[derive(Debug, Args)]
pub struct RevocationListArgs {
    /// The store folder.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// The store's issuer name (default: the one recorded by `revocation init`).
    #[arg(long)]
    pub issuer: Option<String>,
}

/// `agentcap revocation publish`
#[derive(Debug, Args)]
pub struct RevocationPublishArgs {
    /// The store folder.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// The list signing key file (`-` for stdin); else $AGENTCAP_LIST_SIGNING_KEY.
    #[arg(long, value_name = "FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// The folder to export the static files to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How long the list stays fresh.
    #[arg(long, default_value = "1h")]
    pub validity: String,
    /// The store's issuer name (default: the one recorded by `revocation init`).
    #[arg(long)]
    pub issuer: Option<String>,
}

/// `agentcap revocation serve`
#[derive(Debug, Args)]
pub struct RevocationServeArgs {
    /// The store folder.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// The list signing key file (`-` for stdin); else $AGENTCAP_LIST_SIGNING_KEY.
    #[arg(long, value_name = "FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// The address to listen on (port 0: the system picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// How long each list and head stays fresh; heads are re-signed at half.
    #[arg(long, default_value = "1h")]
    pub validity: String,
    /// The store's issuer name (default: the one recorded by `revocation init`).
    #[arg(long)]
    pub issuer: Option<String>,
}

/// `agentcap serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The issuer's root public key (ed25519/<hex>, PEM or @FILE).
    #[arg(long, value_name = "KEY")]
    pub root_public_key: String,
    /// A Datalog policy file for the service.
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
    /// Revocation list options.
    #[command(flatten)]
    pub revocation: RevocationSourceArgs,
    /// How far the token issuer's clock may run ahead of ours (0s to 1h;
    /// default: the verifier's, 30s).
    #[arg(long, value_name = "DURATION")]
    pub clock_skew: Option<String>,
    /// The address to listen on (port 0: the system picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Append audit records (JSON lines) to this file.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Require a proof of possession (`Signature-Input`, `Signature` and
    /// `Content-Digest` headers, see `agentcap prove`) on requests made with
    /// key-bound tokens, no older than MAX_AGE.
    /// Tokens whose holder has no key (bearer leaves) are then refused,
    /// unless --allow-bearer.
    #[arg(long, value_name = "MAX_AGE", num_args = 0..=1, default_missing_value = "60s")]
    pub require_holder_proof: Option<String>,
    /// With --require-holder-proof: accept tokens whose holder has no key,
    /// without a proof.
    #[arg(long, requires = "require_holder_proof")]
    pub allow_bearer: bool,
    /// The authority (host:port) clients address this service as; proofs
    /// made for any other are refused. Repeatable. Default: the --listen
    /// address, when its port is not 0.
    #[arg(long, value_name = "HOST:PORT")]
    pub audience: Vec<String>,
    /// The service's own resource identifier (an http(s) URI such as
    /// https://gw.example/mcp): tokens that name audiences (`mint
    /// --audience`) are accepted only if they name it. Without it, such
    /// tokens are refused. (--audience is about holder proofs instead.)
    #[arg(long, value_name = "URI")]
    pub resource_id: Option<String>,
    /// Refuse requests (503) whose audit record cannot be written.
    #[arg(long, requires = "audit_log")]
    pub audit_required: bool,
}

/// `agentcap gateway`
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// The server to protect: an http:// or https:// URL; request paths
    /// are appended to its path.
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// Read request bodies as MCP (JSON-RPC over streamable HTTP): tool
    /// calls authorized with their arguments, lists filtered to what the
    /// token may use, refusals as JSON-RPC errors.
    #[arg(long)]
    pub mcp: bool,
    /// With --mcp: the MCP endpoint's path, the only one forwarded.
    #[arg(long, value_name = "PATH", default_value = "/mcp", requires = "mcp")]
    pub mcp_path: String,
    /// An authorization server where clients get tokens, published in the
    /// RFC 9728 metadata (repeatable).
    #[arg(long, value_name = "URL")]
    pub authorization_server: Vec<String>,
    /// Pass the client's Authorization header upstream (default: removed).
    #[arg(long)]
    pub forward_token: bool,
    /// The largest request body read to authorize it (default 1048576);
    /// larger ones get 413.
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// The verifier's options, as for `serve`.
    #[command(flatten)]
    pub service: ServeArgs,
}

/// `agentcap prove`
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The token: the token itself, @FILE, or - for stdin.
    pub token: String,
    /// The holder's private key file (`-` for stdin); else $AGENTCAP_SIGNING_KEY.
    #[arg(long, visible_alias = "key-file", value_name = "FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// The request's HTTP method, as it will be sent (GET, POST, ...).
    #[arg(long, value_name = "METHOD")]
    pub method: String,
    /// The request's full URL; the proof binds its host[:port], path and query.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The request body, @FILE or - for stdin (default: no body).
    #[arg(long, value_name = "@FILE|-")]
    pub body: Option<String>,
}

/// `agentcap audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Filter the records of an audit log.
    #[command(
        after_help = "Example:\n  agentcap audit query --log audit.jsonl --user alice \
        --decision deny --since 1h"
    )]
    Query(AuditQueryArgs),
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecisionFilter {
    /// Allowed requests.
    Allow,
    /// Denied requests.
    Deny,
}

/// `agentcap audit query`
#[derive(Debug, Args)]
pub struct AuditQueryArgs {
    /// The audit log (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub log: PathBuf,
    /// Only records of this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only records whose agent chain includes this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only records at or after this time (RFC 3339, or a duration ago: 1h).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records at or before this time (RFC 3339, or a duration ago).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only allowed or only denied requests.
    #[arg(long, value_enum)]
    pub decision: Option<DecisionFilter>,
}

/// `agentcap completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `agentcap demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's folder (keys, tokens, lists, audit log) and print its path.
    #[arg(long)]
    pub keep: bool,
}
