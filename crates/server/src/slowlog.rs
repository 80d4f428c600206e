//! SLOWLOG: the most recent commands that took longer than `slowlog-log-slower-than` µs.

use std::collections::VecDeque;

use resp::{Args, ReplyWriter};

/// Redis keeps at most this many arguments per entry...
const MAX_ARGS: usize = 32;
/// ...and this many bytes per argument.
const MAX_ARG_LEN: usize = 128;

#[derive(Debug, Clone)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_secs: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    pub client_addr: String,
    pub client_name: String,
}

impl SlowEntry {
    /// An entry for `args`, trimmed as Redis does (its id is given when it is recorded).
    pub fn new(
        args: Args<'_>,
        unix_secs: u64,
        micros: u64,
        client_addr: String,
        client_name: String,
    ) -> SlowEntry {
        let argc = args.len();
        let kept = argc.min(MAX_ARGS);
        let mut stored = Vec::with_capacity(kept);
        let secret = crate::redact::positions(args);
        for (i, a) in args.iter().take(kept).enumerate() {
            if i == kept - 1 && argc > MAX_ARGS {
                stored.push(format!("... ({} more arguments)", argc - MAX_ARGS + 1).into_bytes());
            } else if secret.contains(&i) {
                stored.push(b"(redacted)".to_vec());
            } else if a.len() > MAX_ARG_LEN {
                let mut t = a[..MAX_ARG_LEN].to_vec();
                t.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes(),
                );
                stored.push(t);
            } else {
                stored.push(a.to_vec());
            }
        }
        SlowEntry {
            id: 0,
            unix_secs,
            micros,
            args: stored,
            client_addr,
            client_name,
        }
    }
}

#[derive(Debug, Default)]
pub struct SlowLog {
    entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Records a command, trimming its arguments as Redis does.
    pub fn push(
        &mut self,
        args: Args<'_>,
        unix_secs: u64,
        micros: u64,
        client_addr: String,
        client_name: String,
        max_len: usize,
    ) {
        self.record(
            SlowEntry::new(args, unix_secs, micros, client_addr, client_name),
            max_len,
        );
    }

    /// Records an entry made earlier (a blocked command, logged when it is served).
    pub fn record(&mut self, mut entry: SlowEntry, max_len: usize) {
        entry.id = self.next_id;
        self.entries.push_front(entry);
        self.next_id += 1;
        self.entries.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    pub fn trim(&mut self, max_len: usize) {
        self.entries.truncate(max_len);
    }

    /// SLOWLOG GET reply with the newest `count` entries.
    pub fn write(&self, count: usize, out: &mut ReplyWriter) {
        let n = count.min(self.entries.len());
        out.array(n);
        for e in self.entries.iter().take(n) {
            out.array(6);
            out.int(e.id as i64);
            out.int(e.unix_secs as i64);
            out.int(e.micros as i64);
            out.array(e.args.len());
            for a in &e.args {
                out.bulk(a);
            }
            out.bulk(e.client_addr.as_bytes());
            out.bulk(e.client_name.as_bytes());
        }
    }
}
