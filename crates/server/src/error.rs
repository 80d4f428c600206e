//! Every error a command can answer, and the one place that turns it into Redis's text.

/// A command failure. `Display` is the exact Redis error line (without the leading `-`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    #[error("ERR unknown subcommand '{sub}'. Try {container} HELP.")]
    UnknownSubcommand { sub: String, container: String },
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    #[error("BUSYKEY Target key name already exists.")]
    BusyKey,
    /// The key's slot was just given to this node, which serves it once the previous
    /// owner's lease has run out: outside MULTI the connection waits until then and runs
    /// the command again; inside MULTI this is the error.
    #[error("TRYAGAIN The slot was just assigned to this node; try again")]
    SlotWait(std::time::Instant),
    /// Any other `ERR ...` message.
    #[error("ERR {0}")]
    Err(String),
    /// A message with its own error code (`NOPROTO ...`, ...).
    #[error("{0}")]
    Coded(String),
}

impl CmdError {
    pub fn err(msg: impl Into<String>) -> Self {
        CmdError::Err(msg.into())
    }

    /// Builds the unknown-command error with Redis's quoting and 128-character budget.
    pub fn unknown_command(name: &[u8], args: resp::Args<'_>) -> Self {
        let mut listed = String::new();
        for a in args.iter() {
            if listed.len() >= 128 {
                break;
            }
            let budget = 128 - listed.len();
            let text = String::from_utf8_lossy(a);
            let shown: String = text.chars().take(budget).collect();
            listed.push_str(&format!("'{shown}' "));
        }
        let name: String = String::from_utf8_lossy(name).chars().take(128).collect();
        CmdError::UnknownCommand { name, args: listed }
    }

    /// The error code (first word), for INFO errorstats.
    pub fn code(&self) -> String {
        self.to_string()
            .split(' ')
            .next()
            .unwrap_or("ERR")
            .to_string()
    }
}

pub type CmdResult = Result<(), CmdError>;
