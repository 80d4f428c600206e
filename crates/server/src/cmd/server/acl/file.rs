//! ACL LOAD, ACL SAVE: the ACL file (`aclfile`).
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

fn no_file() -> CmdError {
    CmdError::err("This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.")
}

/// Replaces every user with the file's, all or nothing; connections of the users replaced
/// are closed (the default user's stay).
pub fn load(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let path = ctx.shared.users.file.clone().ok_or_else(no_file)?;
    let options = crate::users::options(&ctx.shared.live);
    let replaced = ctx
        .shared
        .users
        .load_file(&path, options)
        .map_err(CmdError::Raw)
        .map_err(|e| CmdError::err(e.to_string()))?;
    let replaced: Vec<&[u8]> = replaced.iter().map(Vec::as_slice).collect();
    super::kill_clients_of(ctx, &replaced);
    ctx.out.ok();
    Ok(())
}

/// Writes every user to the file.
pub fn save(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let path = ctx.shared.users.file.clone().ok_or_else(no_file)?;
    ctx.shared.users.save_file(&path).map_err(|e| {
        tracing::warn!(file = %path.display(), error = %e, "ACL SAVE failed");
        CmdError::err("There was an error trying to save the ACLs. Please check the server logs for more information")
    })?;
    ctx.out.ok();
    Ok(())
}
