//! `agentcap serve`: the example tool server behind the verifier
//! middleware; a verifier sidecar for services not written in Rust.

use std::net::SocketAddr;
use std::sync::Arc;

use agentcap_revocation::{AcceptOutcome, RevocationState};
use agentcap_verifier::AuditSink;
use serde_json::json;

use crate::Outcome;
use crate::cli::ServeArgs;
use crate::error::{CliError, CliResult};
use crate::input::public_key;
use crate::output::{Format, json_line, note};

use super::revsource::{OnRefused, RevocationSource, Source};
use super::service::{
    REFRESH_INTERVAL, VerifierSpec, audit_sink, clock_skew, keep_fresh, resource_id,
    start_tool_server,
};

/// Worker threads of `serve`'s and `gateway`'s runtimes.
pub(crate) const SERVE_WORKERS: usize = 2;

/// What `serve` and `gateway` run with: the verifier's options, the
/// revocation source, the address and the audit sink.
pub(crate) struct ServiceConfig {
    pub spec: VerifierSpec,
    pub revocation: Option<RevocationSource>,
    pub listen: SocketAddr,
    pub audit: Option<Arc<dyn AuditSink>>,
    pub audit_required: bool,
}

impl ServiceConfig {
    /// Validates the service options.
    pub(crate) fn from_args(args: &ServeArgs) -> CliResult<Self> {
        let root = public_key(&args.root_public_key, "--root-public-key")?;
        let mut spec = VerifierSpec::new(vec![(None, root)], args.policy_file.clone())?;
        spec.holder_proof_max_age = args
            .require_holder_proof
            .as_deref()
            .map(|age| crate::input::duration(age, "--require-holder-proof"))
            .transpose()?;
        spec.clock_skew = clock_skew(args.clock_skew.as_deref())?;
        spec.resource_id = resource_id(args.resource_id.as_deref())?;
        let revocation = RevocationSource::from_args(&args.revocation)?;
        let listen: SocketAddr = args
            .listen
            .parse()
            .map_err(|_| CliError::usage("--listen: expected an address such as 127.0.0.1:8080"))?;
        spec.allow_bearer = args.allow_bearer;
        spec.audience = args.audience.clone();
        if spec.audience.is_empty() && spec.holder_proof_max_age.is_some() && listen.port() != 0 {
            // Clients address the service as it listens, unless told otherwise.
            spec.audience.push(listen.to_string());
        }
        let audit = match args.audit_log.as_deref() {
            Some(path) => Some(audit_sink(path)? as Arc<dyn AuditSink>),
            None => None,
        };
        Ok(ServiceConfig {
            spec,
            revocation,
            listen,
            audit,
            audit_required: args.audit_required,
        })
    }

    /// Loads the revocation state (kept fresh from then on) and builds the
    /// verifier; on a runtime.
    pub(crate) async fn verifier(&self, format: Format) -> CliResult<agentcap_verifier::Verifier> {
        let state = load_revocation(self.revocation.as_ref(), format).await?;
        self.spec.build(state)
    }
}

/// Announces the URL a server listens at: a line on stdout (JSON with
/// `--format json`), and a note on stderr.
pub(crate) fn announce(what: &str, url: &str, format: Format) {
    note(format, format!("{what} listening on {url}"));
    if format == Format::Json {
        json_line(&json!({"event": "listening", "url": url}));
    } else {
        println!("{url}");
    }
}

/// `agentcap serve`
pub fn run(args: ServeArgs, format: Format) -> CliResult<Outcome> {
    let config = ServiceConfig::from_args(&args)?;
    let runtime = super::multi_thread_runtime(SERVE_WORKERS)?;
    runtime.block_on(async move {
        let verifier = config.verifier(format).await?;
        let listen = config.listen.to_string();
        let (addr, server) =
            start_tool_server(&listen, verifier, config.audit, config.audit_required).await?;
        announce("tool server", &format!("http://{addr}/"), format);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = server => {}
        }
        Ok::<_, CliError>(())
    })?;
    Ok(Outcome::Ok)
}

/// The revocation state `serve` starts with, kept fresh from then on (push
/// and polling for a URL, watching for files); `None`, with a warning,
/// when the service runs without revocation.
async fn load_revocation(
    revocation: Option<&RevocationSource>,
    format: Format,
) -> CliResult<Option<Arc<RevocationState>>> {
    let Some(r) = revocation else {
        note(
            format,
            "agentcap: warning: no --revocation-list: revoked tokens will be accepted",
        );
        return Ok(None);
    };
    // A list older than the persisted one is refused and logged; the newer
    // persisted state stays in force.
    let loaded = r.load(OnRefused::KeepState).await?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(sequence = ?loaded.state.sequence(), "revocation list loaded");
    match (loaded.fetcher, &r.source) {
        (Some(f), Source::Url(url)) => keep_fresh(f, url),
        _ => reload_files(r.clone(), loaded.state.clone()),
    }
    Ok(Some(loaded.state))
}

/// Logs a refusal once per distinct reason, so that a folder left with a
/// bad file does not fill the log every few seconds.
#[derive(Default)]
struct Once(Option<String>);

impl Once {
    fn report(&mut self, problem: Option<String>) {
        if problem != self.0 {
            if let Some(p) = &problem {
                tracing::warn!("{p}");
            }
            self.0 = problem;
        }
    }
}

/// Re-reads a file source every few seconds (the head first: the publisher
/// writes the list before the head); a newer list is accepted, an older or
/// refused one changes nothing and is logged with its reason.
fn reload_files(source: RevocationSource, state: Arc<agentcap_revocation::RevocationState>) {
    let Source::Files { list, head } = source.source else {
        return;
    };
    tokio::spawn(async move {
        let (mut list_problem, mut head_problem) = (Once::default(), Once::default());
        loop {
            tokio::time::sleep(REFRESH_INTERVAL).await;
            let state = state.clone();
            let (list, head) = (list.clone(), head.clone());
            // Reading and checking a large list is blocking work.
            let checked = tokio::task::spawn_blocking(move || {
                let head_bytes = head.as_ref().map(std::fs::read);
                let list_problem = match std::fs::read(&list) {
                    Ok(bytes) => match state.accept_list(&bytes) {
                        Ok(AcceptOutcome::Updated { from, to }) => {
                            tracing::info!(?from, to, "revocation list updated");
                            None
                        }
                        Ok(_) => None,
                        Err(e) => Some(format!(
                            "refusing the revocation list {}: {e}; keeping sequence {}",
                            list.display(),
                            held(&state)
                        )),
                    },
                    Err(e) => Some(format!(
                        "reading the revocation list {}: {e}",
                        list.display()
                    )),
                };
                let head_problem = match head_bytes {
                    Some(Ok(bytes)) => match state.accept_head(&bytes) {
                        Ok(AcceptOutcome::Behind { available, .. }) => Some(format!(
                            "the revocation head announces sequence {available}, newer than \
                             the list (sequence {}): failing closed until it arrives",
                            held(&state)
                        )),
                        Ok(_) => None,
                        Err(e) => Some(format!("refusing the revocation head: {e}")),
                    },
                    Some(Err(e)) => Some(format!("reading the revocation head: {e}")),
                    None => None,
                };
                (list_problem, head_problem)
            })
            .await;
            match checked {
                Ok((l, h)) => {
                    list_problem.report(l);
                    head_problem.report(h);
                }
                Err(e) => tracing::error!(error = %e, "revocation reload task failed"),
            }
        }
    });
}

fn held(state: &agentcap_revocation::RevocationState) -> String {
    state
        .sequence()
        .map_or_else(|| "none".to_owned(), |n| n.to_string())
}
