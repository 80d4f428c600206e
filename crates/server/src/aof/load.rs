//! Loading the append-only file: the BASE (an RDB snapshot, possibly followed by commands
//! as in Redis 4-6 files, or commands only), then each INCR file, replayed command by
//! command through the node's own command path, as Redis's fake AOF client does.
//!
//! A truncated last file (a crash mid-write) is cut back to its last whole command when
//! `aof-load-truncated yes` (Redis's default), with a warning; otherwise, and for any other
//! damage, the load fails and the node does not start on half a dataset. A transaction
//! left open at the end (MULTI without EXEC) is cut off the same way.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use resp::{Limits, Parsed, ReplyWriter, RequestParser};

use crate::client::ClientInfo;
use crate::command::{execute_until_done, BatchClock};
use crate::exec_gate::BatchGate;
use crate::stats::LocalStats;
use crate::{ClientState, Shared};

use super::manifest::Manifest;

/// How the replay holds the EXEC gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Shared, as any batch of commands (the start: clients are refused with -LOADING).
    Shared,
    /// Exclusively for the whole load (DEBUG LOADAOF: nothing else runs meanwhile, as on
    /// Redis's single thread).
    Exclusive,
}

/// What a load read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: usize,
    pub commands: u64,
    /// Bytes cut off a truncated last file.
    pub truncated: u64,
}

/// Loads every file `m` names, in order, into the keyspace (which the caller emptied).
pub fn load(shared: &Arc<Shared>, m: &Manifest, hold: Hold) -> Result<Loaded, String> {
    let dir = super::dir(shared);
    let files: Vec<_> = m.data_files().cloned().collect();
    let truncated_ok = super::tunable(shared, "aof-load-truncated") != "no";
    let mut loaded = Loaded::default();
    let mut replay = Replay::new(shared, hold);
    for (i, f) in files.iter().enumerate() {
        let path = dir.join(&f.name);
        let last = i + 1 == files.len();
        if !path.exists() {
            return Err(format!("The AOF file {} doesn't exist", f.name));
        }
        let mut start = 0;
        if is_rdb(&path) {
            if i != 0 {
                return Err(format!(
                    "{}: an RDB-format file is only valid as the base",
                    f.name
                ));
            }
            let r = crate::persist::load_with(
                shared,
                &path,
                true,
                crate::persist::FunctionLoad::Replace,
            )?;
            start = r.map_or(0, |r| r.bytes);
            tracing::info!(file = %f.name, "Reading RDB base file on AOF loading...");
        }
        let (commands, cut) = replay
            .file(&path, start, last && truncated_ok, last)
            .map_err(|e| format!("{}: {e}", f.name))?;
        loaded.commands += commands;
        loaded.truncated += cut;
        loaded.files += 1;
        tracing::info!(file = %f.name, commands, "DB loaded from incr/base file");
    }
    Ok(loaded)
}

fn is_rdb(path: &Path) -> bool {
    let mut head = [0u8; 5];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"REDIS"
}

/// Runs a file's commands as one client.
struct Replay<'s> {
    shared: &'s Arc<Shared>,
    client: ClientState,
    out: ReplyWriter,
    stats: LocalStats,
    hold: Hold,
    /// Commands passed over because this node does not have them (streams, modules).
    unknown: u64,
}

impl<'s> Replay<'s> {
    fn new(shared: &'s Arc<Shared>, hold: Hold) -> Replay<'s> {
        let info = Arc::new(ClientInfo::new(
            shared.clients.next_id(),
            std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            shared.local_addr,
            -1,
            shared.uptime().as_millis() as u64,
            shared.shutdown.child_token(),
        ));
        let mut client = ClientState::new(info);
        // Applied as the primary's writes are on a replica: never refused for memory or
        // read-only-ness, keys seen as they are (nothing expires during the load), and
        // nothing goes back into the stream.
        client.is_master = true;
        client.script_no_replicate = true;
        client.loading_aof = true;
        Replay {
            shared,
            client,
            out: ReplyWriter::new(),
            stats: LocalStats::default(),
            hold,
            unknown: 0,
        }
    }

    /// Replays `path` from byte `start`; the commands run and the bytes cut off a truncated
    /// end (only when `may_truncate`: otherwise a truncated end is an error).
    fn file(
        &mut self,
        path: &Path,
        start: u64,
        may_truncate: bool,
        last: bool,
    ) -> Result<(u64, u64), String> {
        let shared = self.shared;
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if start > 0 {
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))
                .map_err(|e| e.to_string())?;
        }
        let limits = Limits {
            max_bulk_len: i64::MAX,
            authenticated: true,
        };
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::with_capacity(1 << 20);
        // Offsets in the file: after the last whole command, and before an open MULTI.
        let mut valid = start;
        let mut before_multi = None;
        let mut commands = 0u64;
        let mut eof = false;
        let mut clock = BatchClock::now();
        let mut gate = self.take_gate();
        loop {
            if !eof {
                let n = read_some(&mut file, &mut buf).map_err(|e| e.to_string())?;
                eof = n == 0;
            }
            let mut consumed = 0;
            loop {
                let rest = &buf[consumed..];
                if rest.is_empty() {
                    break;
                }
                if !parser.in_progress() && rest[0] == b'#' {
                    // An annotation (`#TS:<unix time>` with `aof-timestamp-enabled`): a line
                    // passed over, as Redis's loader does.
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(eol) => {
                            consumed += eol + 1;
                            valid += eol as u64 + 1;
                            continue;
                        }
                        None => break,
                    }
                }
                if !parser.in_progress() && rest[0] != b'*' {
                    return Err(format!(
                        "Bad file format reading the append only file at offset {valid}: a command does not start with '*'"
                    ));
                }
                match parser.parse(rest, &limits) {
                    Ok(Parsed::Command { consumed: used }) => {
                        let args = parser.args(rest);
                        let name = args.get(0);
                        if name.eq_ignore_ascii_case(b"multi") {
                            before_multi = Some(valid);
                        } else if name.eq_ignore_ascii_case(b"exec") {
                            before_multi = None;
                        }
                        let skip = name.eq_ignore_ascii_case(b"replconf")
                            || name.eq_ignore_ascii_case(b"select") && args.len() == 2;
                        if !skip {
                            if shared.table.lookup_request(name).is_none() {
                                self.unknown += 1;
                                tracing::warn!(command = %String::from_utf8_lossy(name), "unknown command in the append only file: passed over");
                            } else {
                                crate::users::make_superuser(shared, &mut self.client);
                                execute_until_done(
                                    shared,
                                    &mut self.client,
                                    &mut self.out,
                                    args,
                                    &mut self.stats,
                                    &mut clock,
                                    &mut gate,
                                );
                                self.out.clear();
                            }
                        }
                        commands += 1;
                        consumed += used;
                        valid += used as u64;
                        if commands.is_multiple_of(1024) {
                            clock = BatchClock::now();
                            if self.hold == Hold::Shared {
                                drop(gate);
                                gate = self.take_gate();
                            }
                        }
                    }
                    Ok(Parsed::Empty { consumed: used }) => {
                        consumed += used;
                        valid += used as u64;
                    }
                    Ok(Parsed::Incomplete { .. }) => break,
                    Err(e) => {
                        return Err(format!(
                            "Bad file format reading the append only file at offset {valid}: {e}"
                        ))
                    }
                }
            }
            buf.advance(consumed);
            if eof {
                break;
            }
        }
        drop(gate);
        // What is left: half a command, or a transaction never committed.
        let cut_to = if valid < len {
            Some(valid)
        } else {
            before_multi
        };
        let Some(cut_to) = cut_to else {
            return Ok((commands, 0));
        };
        if before_multi.is_some() {
            // The transaction's queued commands were never run; drop the client's MULTI.
            self.client.multi = None;
            tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file");
        }
        let cut_to = before_multi.map_or(cut_to, |b| b.min(cut_to));
        if !last {
            return Err(format!(
                "Unexpected end of file reading the append only file at offset {cut_to} (only the last file may be truncated)"
            ));
        }
        if !may_truncate {
            return Err(format!(
                "Unexpected end of file reading the append only file at offset {cut_to}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            ));
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(cut_to).and_then(|()| f.sync_all()));
        if let Err(e) = f {
            return Err(format!(
                "Error truncating the AOF file at offset {cut_to}: {e}"
            ));
        }
        tracing::warn!(
            file = %path.display(),
            offset = cut_to,
            "!!! Warning: short read while loading the AOF file !!! AOF loaded anyway because aof-load-truncated is enabled"
        );
        Ok((commands, len - cut_to))
    }

    fn take_gate(&self) -> BatchGate<'s> {
        match self.hold {
            Hold::Shared => BatchGate::Shared(self.shared.exec_gate.shared()),
            Hold::Exclusive => BatchGate::Exclusive(self.shared.exec_gate.exclusive()),
        }
    }
}

/// Reads up to 1 MiB more into `buf`; 0 at the end of the file.
fn read_some(file: &mut std::fs::File, buf: &mut BytesMut) -> std::io::Result<usize> {
    let old = buf.len();
    buf.resize(old + (1 << 20), 0);
    let n = loop {
        match file.read(&mut buf[old..]) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.truncate(old);
                return Err(e);
            }
        }
    };
    buf.truncate(old + n);
    Ok(n)
}
