//! ACL DELUSER username [username ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Deletes users (the default user never) and closes their connections; answers how many
/// existed.
pub fn deluser(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let names: Vec<&[u8]> = args.iter().skip(2).collect();
    if names.contains(&&b"default"[..]) {
        return Err(CmdError::err("The 'default' user cannot be removed"));
    }
    let existing: Vec<&[u8]> = names
        .iter()
        .copied()
        .filter(|n| ctx.shared.users.get(n).is_some())
        .collect();
    let removed = ctx.shared.users.remove(&names);
    super::kill_clients_of(ctx, &existing);
    ctx.out.int(removed as i64);
    Ok(())
}
