//! The CLI's failures and the exit code each maps to.

use std::fmt;
use std::process::ExitCode;

/// What kind of failure ended a command; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request was denied, or a token is invalid, tampered with or
    /// expired: exit code 1.
    Denied,
    /// The command line is wrong (bad value, missing option, a secret passed
    /// as an argument, a file that must not be overwritten): exit code 2.
    Usage,
    /// Reading or writing a file, or the network, failed: exit code 2.
    Io,
}

impl Kind {
    /// The exit code for this kind of failure.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Kind::Denied => ExitCode::from(1),
            Kind::Usage | Kind::Io => ExitCode::from(2),
        }
    }

    /// A stable name for JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Denied => "denied",
            Kind::Usage => "usage",
            Kind::Io => "io",
        }
    }
}

/// A failure: its kind and a message chain. Messages never contain secrets.
pub struct CliError {
    /// The kind, which decides the exit code.
    pub kind: Kind,
    error: anyhow::Error,
}

impl CliError {
    /// A failure of `kind` with `error` as its cause.
    pub fn new(kind: Kind, error: impl Into<anyhow::Error>) -> Self {
        Self {
            kind,
            error: error.into(),
        }
    }

    /// A usage error with a message.
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::new(Kind::Usage, anyhow::anyhow!("{message}"))
    }

    /// A denial or invalid-token failure with a message.
    pub fn denied(message: impl fmt::Display) -> Self {
        Self::new(Kind::Denied, anyhow::anyhow!("{message}"))
    }

    /// An I/O failure with a message.
    pub fn io(message: impl fmt::Display) -> Self {
        Self::new(Kind::Io, anyhow::anyhow!("{message}"))
    }

    /// Adds context in front of the message.
    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Self {
        Self {
            kind: self.kind,
            error: self.error.context(context),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line: the context chain joined with ": ".
        let text = format!("{:#}", self.error);
        f.write_str(&text.replace('\n', " "))
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {self}", self.kind)
    }
}

/// The result of a command.
pub type CliResult<T> = Result<T, CliError>;

/// The kind of failure a core library error is.
pub fn core_kind(error: &agentcap::Error) -> Kind {
    use agentcap::Error as E;
    match error {
        E::Io { .. } => Kind::Io,
        E::InvalidName { .. }
        | E::InvalidResource { .. }
        | E::InvalidRight(_)
        | E::NoRights
        | E::InvalidTtl(_)
        | E::InvalidKey(_)
        | E::KeyFileExists { .. }
        | E::InvalidRequest(_)
        | E::InvalidMaxDepth { .. } => Kind::Usage,
        _ => Kind::Denied,
    }
}

impl From<agentcap::Error> for CliError {
    fn from(error: agentcap::Error) -> Self {
        let kind = core_kind(&error);
        let error = match &error {
            agentcap::Error::KeyFileExists { .. } => anyhow::Error::new(error)
                .context("refusing to overwrite (pass --force to replace it)"),
            _ => anyhow::Error::new(error),
        };
        Self { kind, error }
    }
}

impl From<agentcap_revocation::StoreError> for CliError {
    fn from(error: agentcap_revocation::StoreError) -> Self {
        use agentcap_revocation::StoreError as E;
        let kind = match &error {
            E::Io { .. } | E::Corrupt { .. } => Kind::Io,
            _ => Kind::Usage,
        };
        Self::new(kind, error)
    }
}

/// Adds a kind (and optionally context) to foreign errors.
pub trait ResultExt<T> {
    /// A failure of `kind` with `context` in front.
    fn or_fail(
        self,
        kind: Kind,
        context: impl fmt::Display + Send + Sync + 'static,
    ) -> CliResult<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn or_fail(
        self,
        kind: Kind,
        context: impl fmt::Display + Send + Sync + 'static,
    ) -> CliResult<T> {
        self.map_err(|e| CliError::new(kind, anyhow::Error::new(e).context(context)))
    }
}
