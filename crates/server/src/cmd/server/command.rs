//! COMMAND [COUNT | INFO | DOCS | LIST | GETKEYS | HELP]
use resp::Args;

use crate::cmd::is;
use crate::command::{CommandMeta, Ctx};
use crate::error::{CmdError, CmdResult};

/// COMMAND with no subcommand: every command's info.
pub fn command(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let table = &ctx.shared.table;
    let all: Vec<_> = table.top_level().collect();
    ctx.out.array(all.len());
    for c in all {
        c.meta.write_info(ctx.out);
    }
    Ok(())
}

pub fn count(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    ctx.out.int(ctx.shared.table.top_level().count() as i64);
    Ok(())
}

fn find<'t>(ctx: &Ctx<'t>, name: &[u8]) -> Option<&'t CommandMeta> {
    let table = &ctx.shared.table;
    table.lookup(name).map(|i| table.get(i).meta)
}

pub fn info(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() == 2 {
        return command(ctx, args);
    }
    ctx.out.array(args.len() - 2);
    for name in args.tail(2).iter() {
        match find(ctx, name) {
            Some(meta) => meta.write_info(ctx.out),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn docs(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let metas: Vec<&CommandMeta> = if args.len() == 2 {
        ctx.shared.table.top_level().map(|c| c.meta).collect()
    } else {
        args.tail(2).iter().filter_map(|n| find(ctx, n)).collect()
    };
    ctx.out.map(metas.len());
    for m in metas {
        ctx.out.bulk(m.name.as_bytes());
        m.write_docs(ctx.out);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
pub fn list(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    enum Filter<'a> {
        All,
        Module,
        AclCat(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let filter = match args.len() {
        2 => Filter::All,
        5 if is(args.get(2), "filterby") => {
            let (kind, value) = (args.get(3), args.get(4));
            if is(kind, "module") {
                Filter::Module
            } else if is(kind, "aclcat") {
                Filter::AclCat(value)
            } else if is(kind, "pattern") {
                Filter::Pattern(value)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let names: Vec<&str> = ctx
        .shared
        .table
        .commands
        .iter()
        .map(|c| c.meta)
        .filter(|m| match &filter {
            Filter::All => true,
            Filter::Module => false,
            Filter::AclCat(cat) => m.acl_categories.iter().any(|c| {
                c.trim_start_matches('@')
                    .as_bytes()
                    .eq_ignore_ascii_case(cat)
            }),
            Filter::Pattern(p) => store::glob::matches(p, m.name.as_bytes(), true),
        })
        .map(|m| m.name)
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// GETKEYS' checks before looking for keys (Redis's `getKeysSubcommandImpl`): a command
/// without key specs has no key arguments; then the arity.
fn check_getkeys(shared: &crate::Shared, meta: &CommandMeta, argc: usize) -> Result<(), CmdError> {
    let has_keys =
        matches!(meta.key_specs, crate::command::spec::Meta::Set(specs) if !specs.is_empty());
    if !has_keys {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !crate::command::arity_ok(shared, meta, argc) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    Ok(())
}

/// No key in these arguments: an empty list where keys are optional (EVAL with 0 keys,
/// Redis's `no_mandatory_keys`), else Redis's error.
fn no_keys_found(ctx: &mut Ctx<'_>, meta: &CommandMeta) -> CmdResult {
    if meta.has_flag("no_mandatory_keys") {
        ctx.out.array(0);
        return Ok(());
    }
    Err(CmdError::err("Invalid arguments specified for command"))
}

/// COMMAND GETKEYS command [arg ...]
pub fn getkeys(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let call = args.tail(2);
    let table = &ctx.shared.table;
    let mut meta =
        find(ctx, call.get(0)).ok_or_else(|| CmdError::err("Invalid command specified"))?;
    if !meta.subcommands.is_empty() && call.len() >= 2 {
        if let Some(i) = table.lookup_sub(meta.name, call.get(1)) {
            meta = table.get(i).meta;
        }
    }
    check_getkeys(ctx.shared, meta, call.len())?;
    let positions = meta.key_positions(call);
    if positions.is_empty() {
        return no_keys_found(ctx, meta);
    }
    ctx.out.array(positions.len());
    for p in positions {
        ctx.out.bulk(call.get(p));
    }
    Ok(())
}

/// COMMAND GETKEYSANDFLAGS command arg [arg ...]: each key with its key-spec flags.
pub fn getkeysandflags(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let call = args.tail(2);
    let table = &ctx.shared.table;
    let mut meta =
        find(ctx, call.get(0)).ok_or_else(|| CmdError::err("Invalid command specified"))?;
    if !meta.subcommands.is_empty() && call.len() >= 2 {
        if let Some(i) = table.lookup_sub(meta.name, call.get(1)) {
            meta = table.get(i).meta;
        }
    }
    check_getkeys(ctx.shared, meta, call.len())?;
    let keys = meta
        .keys_and_flags(call)
        .ok_or_else(|| CmdError::err("Invalid arguments specified for command"))?;
    if keys.is_empty() {
        return no_keys_found(ctx, meta);
    }
    ctx.out.array(keys.len());
    for (i, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(call.get(i));
        ctx.out.set(flags.len());
        for f in flags {
            f.write(ctx.out);
        }
    }
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "COMMAND",
        &[
            // Redis's own text, word for word (clients and tests read it).
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}
