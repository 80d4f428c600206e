//! ACL GETUSER username
use resp::{Args, ReplyWriter};

use crate::command::Ctx;
use crate::error::CmdResult;

/// The user's flags (null for no such user), password hashes, root permissions and other selectors, as a map.
pub fn getuser(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let name = args.get(2);
    let Some(user) = ctx.shared.users.get(name) else {
        ctx.out.null();
        return Ok(());
    };
    let catalog = &ctx.shared.users.catalog;
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = acl::describe::flags(&user);
    out.set(flags.len());
    flags.iter().for_each(|f| out.bulk(f.as_bytes()));
    out.bulk(b"passwords");
    out.array(user.passwords.len());
    user.passwords.iter().for_each(|p| out.bulk(p.as_bytes()));
    selector(out, catalog, user.root());
    out.bulk(b"selectors");
    out.array(user.selectors.len() - 1);
    for s in &user.selectors[1..] {
        out.map(3);
        selector(out, catalog, s);
    }
    Ok(())
}

/// `commands`, `keys` and `channels` of one selector.
fn selector(out: &mut ReplyWriter, catalog: &acl::Catalog, s: &acl::Selector) {
    out.bulk(b"commands");
    out.bulk(acl::describe::describe_commands(catalog, s).as_bytes());
    out.bulk(b"keys");
    out.bulk(&acl::describe::describe_keys(s));
    out.bulk(b"channels");
    out.bulk(&acl::describe::describe_channels(s));
}
