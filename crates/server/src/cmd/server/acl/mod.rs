//! ACL: users and their permissions (Redis 7.0). The rules themselves live in the `acl`
//! crate; the node's users and log in [`crate::users`].

mod cat;
mod deluser;
mod dryrun;
mod file;
mod genpass;
mod getuser;
mod list;
mod log;
mod setuser;

use resp::Args;

use crate::command::{Ctx, Handler};
use crate::error::CmdResult;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("acl|cat", cat::cat),
    ("acl|deluser", deluser::deluser),
    ("acl|dryrun", dryrun::dryrun),
    ("acl|genpass", genpass::genpass),
    ("acl|getuser", getuser::getuser),
    ("acl|list", list::list),
    ("acl|users", list::users),
    ("acl|whoami", list::whoami),
    ("acl|load", file::load),
    ("acl|save", file::save),
    ("acl|log", log::log),
    ("acl|setuser", setuser::setuser),
    ("acl|help", help),
];

fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}

/// Closes the connections running as one of `users` (a user deleted or replaced by ACL
/// LOAD), this one after its reply (`ACLFreeUserAndKillClients`).
fn kill_clients_of(ctx: &mut Ctx<'_>, users: &[&[u8]]) {
    let me = ctx.client.info.id;
    for client in ctx.shared.clients.all() {
        if users.iter().any(|u| client.user.read().as_bytes() == *u) {
            crate::cmd::connection::client::kill_one(ctx, &client, me);
        }
    }
}
