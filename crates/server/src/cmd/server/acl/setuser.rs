//! ACL SETUSER username [rule ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Creates or changes a user: every rule applies or none (they are staged on a copy). A
/// change that takes channels away closes the user's subscribers that used them.
pub fn setuser(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let name = args.get(2);
    if acl::has_spaces(name) {
        return Err(CmdError::err(
            "Usernames can't contain spaces or null characters",
        ));
    }
    let rules: Vec<&[u8]> = args.iter().skip(3).collect();
    let merged = acl::merge_selector_args(&rules).map_err(|at| {
        CmdError::err(format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(rules[at])
        ))
    })?;
    let users = &ctx.shared.users;
    let options = crate::users::options(&ctx.shared.live);
    let old = users.get(name);
    let mut user = match &old {
        Some(u) => (**u).clone(),
        None => acl::User::new(&users.catalog, name, options),
    };
    user.apply_all(&users.catalog, merged.iter().map(Vec::as_slice), options)
        .map_err(|(op, e)| {
            CmdError::err(format!(
                "Error in ACL SETUSER modifier '{}': {e}",
                String::from_utf8_lossy(op)
            ))
        })?;
    if let Some(old) = &old {
        kill_revoked_subscribers(ctx, old, &user);
    }
    ctx.shared.users.put(user);
    ctx.out.ok();
    Ok(())
}

/// Closes the user's subscribers whose channels or patterns the new rules no longer allow
/// (`ACLKillPubsubClientsIfNeeded`): nothing to do when a selector allows every channel, or
/// when the new channel list keeps every old one.
fn kill_revoked_subscribers(ctx: &mut Ctx<'_>, old: &acl::User, new: &acl::User) {
    if new.selectors.iter().any(|s| s.allchannels) {
        return;
    }
    let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| &s.channels).collect();
    // Every channel kept, and none of the old selectors allowed them all.
    let kept = old.selectors.iter().all(|s| !s.allchannels)
        && old
            .selectors
            .iter()
            .flat_map(|s| &s.channels)
            .all(|c| upcoming.contains(&c));
    if kept {
        return;
    }
    let allowed = |channel: &[u8], literal: bool| {
        upcoming.iter().any(|p| {
            if literal {
                p.as_slice() == channel
            } else {
                store::glob::matches(p, channel, false)
            }
        })
    };
    let me = ctx.client.info.id;
    for client in ctx.shared.clients.all() {
        if client.user.read().as_bytes() != old.name.as_slice() || !client.is_pubsub() {
            continue;
        }
        let (channels, patterns) = ctx.shared.pubsub.subscriptions_of(client.id);
        let revoked = patterns.iter().any(|p| !allowed(p, true))
            || channels.iter().any(|c| !allowed(c, false));
        if revoked {
            crate::cmd::connection::client::kill_one(ctx, &client, me);
        }
    }
}
