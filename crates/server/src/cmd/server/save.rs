//! SAVE, BGSAVE [SCHEDULE], LASTSAVE
use std::sync::atomic::Ordering;

use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Saves a point-in-time snapshot to `dir/dbfilename` and answers when it is on disk. Like
/// Redis's SAVE it holds up this connection's worker meanwhile (other workers go on).
pub fn save(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "SAVE cannot run inside a transaction on this server",
        ));
    }
    if ctx.shared.persistence.in_progress.load(Ordering::SeqCst) {
        return Err(CmdError::err("Background save already in progress"));
    }
    ctx.client.pending = Some(crate::Pending::Then(Box::pin(async {
        Box::new(|shared: &crate::Shared, out: &mut resp::ReplyWriter| {
            match crate::persist::save(shared) {
                Ok(_) => out.ok(),
                Err(e) => {
                    shared.stats.count_error("ERR");
                    out.error(&format!("ERR {e}"));
                }
            }
        }) as crate::Finish
    })));
    Ok(())
}

/// Starts a snapshot on a thread of its own; writes go on meanwhile (see `persist`).
pub fn bgsave(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let schedule = match args.len() {
        1 => false,
        2 if is(args.get(1), "schedule") => true,
        _ => return Err(CmdError::Syntax),
    };
    let shared = ctx.shared.arc();
    if shared.aof.rewrite_running.load(Ordering::SeqCst) {
        if !schedule {
            return Err(CmdError::err(
                "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            ));
        }
        // Taken once the rewrite's snapshot is done (one snapshot at a time).
        crate::persist::spawn_bgsave(move || {
            let _ = crate::persist::save(&shared);
        });
        ctx.out.simple("Background saving scheduled");
        return Ok(());
    }
    if shared.persistence.in_progress.swap(true, Ordering::SeqCst) {
        if !schedule {
            return Err(CmdError::err(
                "Background save already in progress. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            ));
        }
        crate::persist::spawn_bgsave(move || {
            while shared.persistence.in_progress.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = crate::persist::save(&shared);
        });
        ctx.out.simple("Background saving scheduled");
        return Ok(());
    }
    // Claimed above: the save counts as running from this reply on.
    let claimed = shared.clone();
    if !crate::persist::spawn_bgsave(move || {
        let _ = crate::persist::save_claimed(&claimed);
    }) {
        shared
            .persistence
            .in_progress
            .store(false, Ordering::SeqCst);
        return Err(CmdError::err("Can't start a background save: no thread"));
    }
    ctx.out.simple("Background saving started");
    Ok(())
}

/// Unix time of the last successful save.
pub fn lastsave(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let t = ctx.shared.persistence.last_save.load(Ordering::Relaxed);
    ctx.out.int(t as i64);
    Ok(())
}
