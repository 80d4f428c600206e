//! ACL GENPASS [bits]
use rand::RngCore;
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

const MAX_BITS: i64 = 4096;

/// A random password of `bits` (256 by default) as hex, from the OS's random source.
pub fn genpass(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let bits = match args.len() {
        2 => 256,
        3 => crate::cmd::int_arg(args.get(2))?,
        _ => return Err(CmdError::subcommand_syntax("ACL", args.get(1))),
    };
    if bits <= 0 || bits > MAX_BITS {
        return Err(CmdError::err(format!(
            "ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}"
        )));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    ctx.out.bulk(&hex.as_bytes()[..chars]);
    Ok(())
}
