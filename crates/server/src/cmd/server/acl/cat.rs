//! ACL CAT [category]
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The categories, or the commands (and subcommands) of one.
pub fn cat(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    match args.len() {
        2 => {
            ctx.out.array(acl::CATEGORIES.len());
            acl::CATEGORIES
                .iter()
                .for_each(|c| ctx.out.bulk(c.as_bytes()));
        }
        3 => {
            let bit = acl::catalog::category_bit(args.get(2)).ok_or_else(|| {
                CmdError::err(format!(
                    "Unknown category '{}'",
                    String::from_utf8_lossy(args.get(2))
                        .chars()
                        .take(128)
                        .collect::<String>()
                ))
            })?;
            let names: Vec<&str> = ctx.shared.users.catalog.in_category(bit).collect();
            ctx.out.array(names.len());
            names.iter().for_each(|n| ctx.out.bulk(n.as_bytes()));
        }
        _ => return Err(CmdError::subcommand_syntax("ACL", args.get(1))),
    }
    Ok(())
}
