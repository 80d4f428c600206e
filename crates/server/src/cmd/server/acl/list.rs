//! ACL LIST, ACL USERS, ACL WHOAMI
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Every user as its rules, in the ACL file's form, sorted by name.
pub fn list(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let users = ctx.shared.users.all();
    ctx.out.array(users.len());
    for user in &users {
        let mut line = b"user ".to_vec();
        line.extend_from_slice(&user.name);
        line.push(b' ');
        line.extend_from_slice(&acl::describe::describe_user(
            &ctx.shared.users.catalog,
            user,
        ));
        ctx.out.bulk(&line);
    }
    Ok(())
}

/// Every user's name, sorted.
pub fn users(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let users = ctx.shared.users.all();
    ctx.out.array(users.len());
    users.iter().for_each(|u| ctx.out.bulk(&u.name));
    Ok(())
}

/// The user this connection runs as.
pub fn whoami(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let name = ctx.client.info.user.read().clone();
    ctx.out.bulk(name.as_bytes());
    Ok(())
}
