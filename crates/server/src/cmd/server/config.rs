//! CONFIG GET | SET | RESETSTAT | HELP
use std::collections::HashSet;

use resp::Args;

use crate::command::Ctx;
use crate::config::{find_param, PARAMS};
use crate::error::{CmdError, CmdResult};
use crate::tunables::{self, TUNABLES};

/// CONFIG GET pattern [pattern ...]: every parameter matching any pattern, once.
pub fn get(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let live = &ctx.shared.live;
    for pattern in args.tail(2).iter() {
        let glob = pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        let matches = |name: &str| {
            if glob && tunables::HIDDEN.contains(&name) {
                return false;
            }
            store::glob::matches(pattern, name.as_bytes(), true)
        };
        for p in PARAMS {
            if matches(p.name) && seen.insert(p.name) {
                found.push((p.name, (p.get)(live)));
            }
        }
        // Redis answers an old name as a parameter of its own, with the same value.
        for t in TUNABLES {
            for name in std::iter::once(t.name).chain(t.alias) {
                if matches(name) && seen.insert(name) {
                    found.push((name, live.tunables.get(t)));
                }
            }
        }
    }
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// CONFIG SET parameter value [parameter value ...]: all or nothing. Every value is
/// validated before any is applied.
pub fn set(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("config|set".into()));
    }
    let mut pairs = Vec::new();
    let mut kept = Vec::new();
    let mut names = HashSet::new();
    for i in (2..args.len()).step_by(2) {
        let name = String::from_utf8_lossy(args.get(i)).into_owned();
        let value = String::from_utf8_lossy(args.get(i + 1)).into_owned();
        let failed = |why: &str| {
            CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        let Some(param) = find_param(&name) else {
            let Some(t) = tunables::find(&name) else {
                return Err(CmdError::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                )));
            };
            if !names.insert(t.name) {
                return Err(failed("duplicate parameter"));
            }
            kept.push((
                t,
                tunables::validate(t, &value).map_err(|why| failed(&why))?,
                value.clone(),
            ));
            continue;
        };
        if !names.insert(param.name) {
            return Err(failed("duplicate parameter"));
        }
        let Some(setter) = param.set else {
            return Err(failed("can't set immutable config"));
        };
        // Validate against a scratch copy first so a later bad pair changes nothing.
        let scratch =
            crate::config::Live::new(&crate::Config::default()).expect("default config is valid");
        setter(&scratch, &value).map_err(|why| failed(&why))?;
        pairs.push((param.name, setter, value));
    }
    // The TLS port is bound at start, and the cluster bus and member links are set up
    // with or without TLS at start: setting either to another value is refused in Redis's
    // words for a TLS change that cannot be made (the log says why).
    for fixed in ["tls-port", "tls-cluster"] {
        if let Some((t, value, _)) = kept.iter().find(|(t, _, _)| t.name == fixed) {
            if *value != ctx.shared.live.tunables.get(t) {
                tracing::warn!(
                    requested = %value,
                    "{fixed} cannot change while the node runs: restart it with --{fixed}"
                );
                return Err(CmdError::err(format!(
                    "CONFIG SET failed (possibly related to argument '{fixed}') - Unable to update TLS configuration. Check server logs."
                )));
            }
        }
    }
    // TLS settings change together (Redis's applyTlsCfg): when TLS is in use — a TLS port,
    // or TLS replication — the new settings must make a working configuration, and the
    // acceptor is rebuilt from them first; otherwise nothing is applied.
    if let Some((first, _, _)) = kept.iter().find(|(t, _, _)| {
        crate::tlsconf::RELOADING.contains(&t.name) || t.name == "tls-replication"
    }) {
        let live = &ctx.shared.live;
        let lookup = |name: &str| {
            kept.iter()
                .find(|(t, _, _)| t.name == name)
                .map(|(_, v, _)| v.clone())
                .or_else(|| tunables::find(name).map(|t| live.tunables.get(t)))
                .unwrap_or_default()
        };
        let refused = || {
            CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{}') - Unable to update TLS configuration. Check server logs.",
                first.name
            ))
        };
        let in_use = ctx.shared.tls.is_some() || lookup("tls-replication") == "yes";
        if in_use {
            let settings = crate::tlsconf::settings_with(lookup).ok_or_else(|| {
                tracing::warn!("TLS is in use but tls-cert-file / tls-key-file are not set");
                refused()
            })?;
            let checked = match &ctx.shared.tls {
                Some(acceptor) => acceptor.update(|s| *s = settings.clone()),
                None => tls::server_config(&settings).map(drop),
            };
            checked.map_err(|e| {
                tracing::warn!(error = %e, "TLS configuration refused");
                refused()
            })?;
        }
    }
    // A new client port or address is bound before anything is applied: one that cannot
    // be had fails the whole command (Redis's rollback on an apply error).
    let moved = crate::client_port::prepare(ctx.shared, |name| {
        pairs
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, v)| v.as_str())
    })?;
    for (_, setter, value) in pairs {
        setter(&ctx.shared.live, &value).map_err(CmdError::err)?;
    }
    if let Some(listener) = moved {
        ctx.shared.client_port.hand_over(&ctx.shared.live, listener);
    }
    if names.contains("requirepass") {
        // `requirepass` is the default user's password (Redis's ACLUpdateDefaultUserPassword).
        let password = ctx.shared.live.requirepass();
        ctx.shared.users.set_requirepass(password.as_deref());
    }
    // `appendonly`: the file is switched on (a rewrite gives it its base) or off (what is
    // written so far is fsynced) before the value is kept.
    if let Some((_, value, _)) = kept.iter().find(|(t, _, _)| t.name == "appendonly") {
        let on = value == "yes";
        if on && !ctx.shared.aof.enabled() {
            crate::aof::turn_on(&ctx.shared.arc()).map_err(|e| {
                tracing::warn!(error = %e, "Unable to turn on AOF");
                let why = if ctx.shared.cluster.is_some() {
                    e
                } else {
                    "Unable to turn on AOF. Check server logs.".to_string()
                };
                CmdError::err(format!(
                    "CONFIG SET failed (possibly related to argument 'appendonly') - {why}"
                ))
            })?;
        } else if !on && ctx.shared.aof.enabled() {
            crate::aof::turn_off(ctx.shared);
        }
    }
    for (t, value, given) in kept {
        take_effect(ctx.shared, t, &value, &given);
        ctx.shared.live.tunables.set(t, value);
    }
    ctx.shared.keyspace.set_policy(ctx.shared.live.policy());
    ctx.out.ok();
    Ok(())
}

/// What setting a parameter does beyond keeping its value (`value` normalised, `given` as
/// written): at CONFIG SET, and at start for those read from the configuration file.
pub(crate) fn take_effect(shared: &crate::Shared, t: &tunables::Tunable, value: &str, given: &str) {
    if t.name == "appendfsync" {
        shared.aof.set_fsync(value);
    }
    if t.name == "aof-timestamp-enabled" {
        shared
            .aof
            .timestamps
            .store(value == "yes", std::sync::atomic::Ordering::Relaxed);
    }
    if t.name == "latency-monitor-threshold" {
        shared.latency.threshold.store(
            value.parse().unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    if t.name == "notify-keyspace-events" {
        // From what was given: the answer CONFIG GET shows can drop classes ("AKEn" reads
        // back as "AKE", as in Redis, yet `new` events are on).
        shared.notify.set(crate::notify::parse(given).unwrap_or(0));
        crate::seam::refresh(shared);
    }
}

pub fn resetstat(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let shared = ctx.shared;
    shared.stats.reset();
    for s in &shared.table.stats {
        s.reset();
    }
    shared.keyspace.reset_stats();
    shared.slowlog.lock().reset();
    shared.peak_memory.store(
        shared
            .used_memory
            .load(std::sync::atomic::Ordering::Relaxed),
        std::sync::atomic::Ordering::Relaxed,
    );
    ctx.out.ok();
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
