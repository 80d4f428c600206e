//! Splitting a multi-key command whose keys span slots into one command per slot, and
//! putting the replies back together in the order the client asked. Pure.

use placement::slot::key_slot;
use resp::Frame;

/// The commands served across slots, and how their parts combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// MGET: values in the order of the keys.
    MGet,
    /// MSET: `+OK` once every part said OK.
    MSet,
    /// DEL, UNLINK, EXISTS, TOUCH: the parts' counts summed.
    Sum,
}

impl Kind {
    pub fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "mget" => Kind::MGet,
            "mset" => Kind::MSet,
            "del" | "unlink" | "exists" | "touch" => Kind::Sum,
            _ => return None,
        })
    }

    /// Arguments per key (MSET: key and value).
    fn stride(self) -> usize {
        if self == Kind::MSet {
            2
        } else {
            1
        }
    }
}

/// One command of a split: for `slot`, covering these key indexes (0-based, in the order of
/// the client's keys).
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    pub slot: u16,
    pub argv: Vec<Vec<u8>>,
    pub keys: Vec<usize>,
}

/// The parts of `argv` (name first), one per slot in the order slots first appear; `None`
/// when the arguments do not fit the command (the node answers the arity error), or when
/// every key is in one slot (the command goes as it is).
pub fn split(kind: Kind, argv: &[&[u8]]) -> Option<Vec<Part>> {
    let stride = kind.stride();
    let args = argv.get(1..)?;
    if args.is_empty() || !args.len().is_multiple_of(stride) {
        return None;
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut index_of_slot = std::collections::HashMap::new();
    for (k, chunk) in args.chunks(stride).enumerate() {
        let slot = key_slot(chunk[0]);
        let at = *index_of_slot.entry(slot).or_insert_with(|| {
            parts.push(Part {
                slot,
                argv: vec![argv[0].to_vec()],
                keys: Vec::new(),
            });
            parts.len() - 1
        });
        parts[at].argv.extend(chunk.iter().map(|a| a.to_vec()));
        parts[at].keys.push(k);
    }
    (parts.len() > 1).then_some(parts)
}

/// The client's reply from the parts' replies (in the order of `parts`). An error from any
/// part is the answer: a partial MGET or a half-reported MSET would be silently wrong.
pub fn assemble(kind: Kind, parts: &[Part], replies: Vec<Frame>) -> Frame {
    if let Some(e) = replies.iter().find(|r| matches!(r, Frame::Error(_))) {
        return e.clone();
    }
    match kind {
        Kind::MGet => {
            let count = parts.iter().map(|p| p.keys.len()).sum();
            let mut values = vec![Frame::Null; count];
            for (part, reply) in parts.iter().zip(replies) {
                let Frame::Array(items) = reply else {
                    return Frame::Error("ERR a node sent an invalid MGET reply".into());
                };
                for (&k, v) in part.keys.iter().zip(items) {
                    values[k] = v;
                }
            }
            Frame::Array(values)
        }
        Kind::MSet => Frame::Simple("OK".into()),
        Kind::Sum => Frame::Integer(
            replies
                .iter()
                .map(|r| if let Frame::Integer(n) = r { *n } else { 0 })
                .sum(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv<'a>(a: &'a [&'a str]) -> Vec<&'a [u8]> {
        a.iter().map(|s| s.as_bytes()).collect()
    }

    #[test]
    fn keys_group_by_slot_and_come_back_in_order() {
        let a = argv(&["MGET", "a", "b", "{a}x", "c"]);
        let parts = split(Kind::MGet, &a).unwrap();
        assert_eq!(parts[0].keys, vec![0, 2]);
        assert_eq!(
            parts[0].argv,
            vec![b"MGET".to_vec(), b"a".to_vec(), b"{a}x".to_vec()]
        );
        let replies: Vec<Frame> = parts
            .iter()
            .map(|p| {
                Frame::Array(
                    p.argv[1..]
                        .iter()
                        .map(|k| Frame::Bulk([b"v-".as_slice(), k].concat()))
                        .collect(),
                )
            })
            .collect();
        let Frame::Array(values) = assemble(Kind::MGet, &parts, replies) else {
            panic!()
        };
        let texts: Vec<String> = values.iter().map(|v| v.as_text().unwrap()).collect();
        assert_eq!(texts, ["v-a", "v-b", "v-{a}x", "v-c"]);
    }

    #[test]
    fn mset_keeps_pairs_and_sums_add_up() {
        let a = argv(&["MSET", "a", "1", "b", "2", "{a}z", "3"]);
        let parts = split(Kind::MSet, &a).unwrap();
        assert_eq!(parts[0].argv.len(), 5);
        assert!(split(Kind::MSet, &argv(&["MSET", "a", "1", "b"])).is_none());
        assert!(split(Kind::MGet, &argv(&["MGET", "a", "{a}b"])).is_none());
        let d = argv(&["DEL", "a", "b", "c"]);
        let parts = split(Kind::Sum, &d).unwrap();
        let replies = parts
            .iter()
            .map(|p| Frame::Integer(p.keys.len() as i64))
            .collect();
        assert_eq!(assemble(Kind::Sum, &parts, replies), Frame::Integer(3));
        let errs = vec![Frame::Integer(1), Frame::Error("ERR x".into())];
        assert_eq!(
            assemble(Kind::Sum, &parts[..2], errs),
            Frame::Error("ERR x".into())
        );
    }
}
