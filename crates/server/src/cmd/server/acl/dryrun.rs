//! ACL DRYRUN username command [arg ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Whether the user could run the command, without running it: `+OK`, or a bulk string
/// saying what is denied.
pub fn dryrun(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let name = args.get(2);
    let user = ctx.shared.users.get(name).ok_or_else(|| {
        CmdError::err(format!(
            "User '{}' not found",
            String::from_utf8_lossy(name)
        ))
    })?;
    let command = args.tail(3);
    let index = ctx.shared.table.resolve_args(command).ok_or_else(|| {
        CmdError::err(format!(
            "Command '{}' not found",
            String::from_utf8_lossy(args.get(3))
        ))
    })?;
    let meta = ctx.shared.table.get(index).meta;
    if !crate::command::arity_ok(ctx.shared, meta, command.len()) {
        return Err(CmdError::WrongArity(meta.name.into()));
    }
    match crate::users::check_user(ctx.shared, &user, index, command) {
        Ok(()) => ctx.out.ok(),
        Err(denied) => {
            let text = match denied {
                acl::Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    meta.name
                ),
                acl::Denied::Key(i) => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(command.get(i))
                ),
                acl::Denied::Channel(i) => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(command.get(i))
                ),
            };
            ctx.out.bulk(text.as_bytes());
        }
    }
    Ok(())
}
