//! INFO [section [section ...]]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn info(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let sections: Vec<String> = args
        .tail(1)
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let text = crate::info::render(ctx.shared, &sections);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}
