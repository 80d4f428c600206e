//! CLUSTER DIGESTS (Shard-Cache's): this node's replication offset and the digest of each
//! non-empty slot at that offset — what a replica compares its own data with (see
//! `replication::audit`). Sent inside MULTI/EXEC, it runs with no other command running;
//! a change made meanwhile outside any command (an expired key removed) is caught by the
//! offset moving, and answered `-TRYAGAIN`.
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn digests(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    super::state(ctx)?;
    let before = crate::replication::master_offset(ctx.shared);
    let slots = crate::digest::slot_digests(ctx.shared);
    if crate::replication::master_offset(ctx.shared) != before {
        return Err(CmdError::Raw(
            "TRYAGAIN the data changed while its digest was computed".into(),
        ));
    }
    ctx.out.array(2);
    ctx.out.int(before as i64);
    ctx.out.array(slots.len() * 2);
    for (slot, digest) in slots {
        ctx.out.int(i64::from(slot));
        ctx.out.bulk(crate::digest::hex(&digest).as_bytes());
    }
    Ok(())
}
