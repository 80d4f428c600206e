//! Lua scripting for a Shard-Cache node, as Redis 7.0 has it: EVAL, EVALSHA, EVAL_RO,
//! EVALSHA_RO and SCRIPT (`eval`, `script`), FUNCTION and FCALL (`function`), in a Lua 5.1
//! sandbox with Redis's libraries (`vm`, `libs`, `redis_lib`) and reply conversions
//! (`convert`).
//!
//! The node links these commands in through [`handlers`] (`server::Config::extra_commands`);
//! it runs a script command alone (no other command anywhere meanwhile) and gives it
//! `Ctx::call_from_script` (see `server::script_host`). This crate is the only one that
//! links Lua.

pub mod convert;
pub mod engine;
pub mod eval;
pub mod function;
pub mod libs;
pub mod rand48;
pub mod raw_call;
pub mod redis_lib;
pub mod script_cmd;
pub mod vm;

use server::command::Handler;

/// The script commands, by full name, for `server::Config::extra_commands`.
pub fn handlers() -> Vec<(&'static str, Handler)> {
    server::script_host::register_script_may_write(eval::may_write);
    let mut all: Vec<(&'static str, Handler)> = Vec::new();
    all.extend_from_slice(eval::HANDLERS);
    all.extend_from_slice(script_cmd::HANDLERS);
    all.extend_from_slice(function::HANDLERS);
    all
}
