//! The append-only file's manifest (Redis 7's multi-part AOF): which files make the data,
//! in order — at most one BASE (a snapshot, RDB or commands), then the INCR files (the
//! commands after it) — and the HISTORY files a finished rewrite left for deletion.
//!
//! The text format is Redis's (`aof.c`: `getAofManifestAsString`, `aofLoadManifestFromFile`),
//! so a directory written by either server is read by the other:
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.1.incr.aof seq 1 type h
//! file appendonly.aof.3.incr.aof seq 3 type i
//! ```
//!
//! Invariant: INCR sequence numbers strictly increase down the file; the base is first.

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Base,
    Incr,
    History,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::Incr => 'i',
            Kind::History => 'h',
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<FileInfo>,
    pub incr: Vec<FileInfo>,
    pub history: Vec<FileInfo>,
    /// The last sequence numbers used, for naming the next files.
    pub base_seq: u64,
    pub incr_seq: u64,
}

/// `<appendfilename>.manifest`.
pub fn manifest_name(filename: &str) -> String {
    format!("{filename}.manifest")
}

impl Manifest {
    /// Reads a manifest's text; errors are Redis's wording.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut lines = 0;
        for raw in text.split_inclusive('\n') {
            lines += 1;
            if raw.starts_with('#') {
                continue;
            }
            if raw.len() > 1024 {
                return Err("The AOF manifest file contains too long line".into());
            }
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() {
                return Err("Invalid AOF manifest file format".into());
            }
            let words = split_args(line).ok_or("Invalid AOF manifest file format")?;
            if words.len() < 6 || words.len() % 2 != 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, 0u64, None);
            for pair in words.chunks(2) {
                let key = pair[0].to_ascii_lowercase();
                match key.as_str() {
                    "file" => {
                        if pair[1].contains('/') {
                            return Err("File can't be a path, just a filename".into());
                        }
                        name = Some(pair[1].clone());
                    }
                    "seq" => seq = leading_number(&pair[1]),
                    "type" => kind = pair[1].chars().next(),
                    _ => {}
                }
            }
            let (Some(name), Some(kind)) = (name, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            if seq == 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            match kind {
                'b' => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base_seq = seq;
                    m.base = Some(FileInfo {
                        name,
                        seq,
                        kind: Kind::Base,
                    });
                }
                'h' => m.history.push(FileInfo {
                    name,
                    seq,
                    kind: Kind::History,
                }),
                'i' => {
                    if m.incr.last().is_some_and(|l| seq <= l.seq) {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incr_seq = seq;
                    m.incr.push(FileInfo {
                        name,
                        seq,
                        kind: Kind::Incr,
                    });
                }
                _ => return Err("Unknown AOF file type".into()),
            }
        }
        if lines == 0 {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The manifest's text: the base, then history, then incr files (Redis's order).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incr) {
            let name = if f
                .name
                .bytes()
                .any(|b| b <= b' ' || b == b'"' || b == b'\\' || b >= 0x7f)
            {
                quote(&f.name)
            } else {
                f.name.clone()
            };
            out.push_str(&format!(
                "file {name} seq {} type {}\n",
                f.seq,
                f.kind.letter()
            ));
        }
        out
    }

    /// Names a new base file and makes the current one history (`rdb`: an RDB snapshot,
    /// else commands).
    pub fn new_base(&mut self, filename: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = Kind::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let name = format!(
            "{filename}.{}.base.{}",
            self.base_seq,
            if rdb { "rdb" } else { "aof" }
        );
        self.base = Some(FileInfo {
            name: name.clone(),
            seq: self.base_seq,
            kind: Kind::Base,
        });
        name
    }

    /// Adds a new INCR file after the others and returns its name.
    pub fn new_incr(&mut self, filename: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{filename}.{}.incr.aof", self.incr_seq);
        self.incr.push(FileInfo {
            name: name.clone(),
            seq: self.incr_seq,
            kind: Kind::Incr,
        });
        name
    }

    /// After a rewrite: every INCR file older than `keep_from` (the one opened at the
    /// rewrite's cut) is history now; with `None` (the file is off) all of them are.
    pub fn retire_incr_before(&mut self, keep_from: Option<u64>) {
        let (old, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.incr)
            .into_iter()
            .partition(|f| keep_from.is_none_or(|k| f.seq < k));
        self.incr = kept;
        for mut f in old.into_iter().rev() {
            f.kind = Kind::History;
            self.history.insert(0, f);
        }
    }

    /// The files to load, in order: the base, then the INCR files.
    pub fn data_files(&self) -> impl Iterator<Item = &FileInfo> {
        self.base.iter().chain(&self.incr)
    }

    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }
}

/// The number at the start of `s` (`atoll`'s reading), 0 when none.
fn leading_number(s: &str) -> u64 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Redis's `sdscatrepr` for a file name that needs quoting.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x21..=0x7e => out.push(b as char),
            b' ' => out.push(' '),
            other => out.push_str(&format!("\\x{other:02x}")),
        }
    }
    out.push('"');
    out
}

/// The line's words as Redis's `sdssplitargs` reads them (the RESP crate's inline-command
/// splitter is that function); `None` for unbalanced quotes.
fn split_args(line: &str) -> Option<Vec<String>> {
    let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
    resp::request::split_args(line.as_bytes(), &mut bytes, &mut ranges).ok()?;
    Some(
        ranges
            .iter()
            .map(|&(s, e)| String::from_utf8_lossy(&bytes[s..e]).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_redis_manifests() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.3.incr.aof seq 3 type i\nfile appendonly.aof.4.incr.aof seq 4 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
        assert_eq!(m.incr.len(), 2);
        assert_eq!(m.history.len(), 1);
        assert_eq!((m.base_seq, m.incr_seq), (2, 4));
        assert_eq!(m.render(), text);
    }

    #[test]
    fn refuses_what_redis_refuses() {
        for (text, why) in [
            ("", "Found an empty AOF manifest"),
            ("file a seq 1\n", "Invalid AOF manifest file format"),
            ("file a seq 1 type x\n", "Unknown AOF file type"),
            (
                "file a/b seq 1 type b\n",
                "File can't be a path, just a filename",
            ),
            (
                "file a seq 1 type b\nfile b seq 2 type b\n",
                "Found duplicate base file information",
            ),
            (
                "file a seq 2 type i\nfile b seq 2 type i\n",
                "Found a non-monotonic sequence number",
            ),
            ("file a seq 0 type i\n", "Invalid AOF manifest file format"),
        ] {
            assert_eq!(Manifest::parse(text).unwrap_err(), why, "{text:?}");
        }
        assert!(Manifest::parse("# comment\nfile a seq 1 type b\n").is_ok());
    }

    #[test]
    fn a_rewrite_retires_the_older_files() {
        let mut m = Manifest::default();
        m.new_base("appendonly.aof", true);
        m.new_incr("appendonly.aof");
        let keep = m.incr_seq + 1;
        m.new_incr("appendonly.aof");
        m.new_base("appendonly.aof", true);
        m.retire_incr_before(Some(keep));
        assert_eq!(
            m.render(),
            // Redis's order: each retired file goes to the head of the history list.
            "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.1.base.rdb seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        m.retire_incr_before(None);
        assert!(m.incr.is_empty());
    }

    #[test]
    fn quoted_names_round_trip() {
        let mut m = Manifest::default();
        m.new_base("my file.aof", false);
        let text = m.render();
        assert_eq!(text, "file \"my file.aof.1.base.aof\" seq 1 type b\n");
        assert_eq!(Manifest::parse(&text).unwrap(), m);
    }
}
