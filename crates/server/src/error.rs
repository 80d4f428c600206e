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
    /// Refused by the user's ACL (the text after `NOPERM `).
    #[error("NOPERM {0}")]
    NoPerm(String),
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    #[error("BUSYKEY Target key name already exists.")]
    BusyKey,
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    CorruptHll,
    /// The key's slot was just given to this node, which serves it once the previous
    /// owner's lease has run out: outside MULTI the connection waits until then and runs
    /// the command again; inside MULTI this is the error.
    #[error("TRYAGAIN The slot is changing owner; try again")]
    SlotWait(std::time::Instant),
    /// The key's slot is switching to another node: outside MULTI the command waits (up to
    /// [`crate::cluster::SWITCH_WAIT`]) and runs again; then, or inside MULTI, this is the
    /// error, and the client retries (and is sent on by MOVED).
    #[error("TRYAGAIN The slot is moving to another node; try again")]
    SlotMoving,
    /// Redis Cluster: the key's slot is served by another node.
    #[error("MOVED {slot} {addr}")]
    Moved { slot: u16, addr: String },
    /// Redis Cluster: the slot is migrating; ask that node (once, after ASKING).
    #[error("ASK {slot} {addr}")]
    Ask { slot: u16, addr: String },
    #[error("CROSSSLOT Keys in request don't hash to the same slot")]
    CrossSlot,
    #[error("CLUSTERDOWN Hash slot not served")]
    ClusterDown,
    /// EXEC of a transaction that had an error while queueing.
    #[error("EXECABORT Transaction discarded because of previous errors.")]
    ExecAbortPrevious,
    /// EXEC refused as a whole (the reason without its `ERR `).
    #[error("EXECABORT Transaction discarded because of: {0}")]
    ExecAbort(String),
    #[error("READONLY You can't write against a read only replica.")]
    ReadOnly,
    #[error("NOREPLICAS Not enough good replicas to write.")]
    NoReplicas,
    /// Load shedding (`--max-concurrent-requests`, `--cpu-shed-threshold`).
    #[error("BUSY Shard-Cache is shedding load ({0}); retry later")]
    Shedding(&'static str),
    /// Writes refused while persistence is failing (the text after `MISCONF `).
    #[error("MISCONF {0}")]
    Misconf(String),
    #[error("LOADING Redis is loading the dataset in memory")]
    Loading,
    #[error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")]
    MasterDown,
    #[error("NOPROTO unsupported protocol version")]
    NoProto,
    #[error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")]
    HelloNoAuth,
    /// EVALSHA / FCALL of a script the node does not hold.
    #[error("NOSCRIPT No matching script. Please use EVAL.")]
    NoScript,
    /// A script has run past `busy-reply-threshold`: everything but the `allow_busy`
    /// commands is refused until it ends or is killed.
    #[error("BUSY Redis is busy running a script. You can only call {} or SHUTDOWN NOSAVE.", if *function { "FUNCTION KILL" } else { "SCRIPT KILL" })]
    Busy { function: bool },
    #[error("NOTBUSY No scripts in execution right now.")]
    NotBusy,
    #[error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")]
    Unkillable,
    /// Any other `ERR ...` message.
    #[error("ERR {0}")]
    Err(String),
    /// An error line sent as given, code and all (DEBUG ERROR).
    #[error("{0}")]
    Raw(String),
    /// [`CmdError::Raw`] for an error already counted in errorstats when it happened: a
    /// script ended by an error `redis.call` raised (Redis's `ERR_REPLY_FLAG_NO_STATS_UPDATE`).
    #[error("{0}")]
    Counted(String),
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

    /// A container's reply to a subcommand it does not know or that has the wrong number
    /// of arguments (Redis's `addReplySubcommandSyntaxError`).
    pub fn subcommand_syntax(container: &str, sub: &[u8]) -> Self {
        let sub: String = String::from_utf8_lossy(sub).chars().take(128).collect();
        CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{sub}'. Try {container} HELP."
        ))
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
