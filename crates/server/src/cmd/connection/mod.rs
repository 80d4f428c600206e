//! Connection commands.

mod auth;
pub(crate) mod client;
mod echo;
mod hello;
mod ping;
mod quit;
mod reset;
mod select;
mod tracking;

use crate::command::Handler;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("ping", ping::ping),
    ("echo", echo::echo),
    ("hello", hello::hello),
    ("auth", auth::auth),
    ("select", select::select),
    ("quit", quit::quit),
    ("reset", reset::reset),
    ("client|id", client::id),
    ("client|setname", client::setname),
    ("client|getname", client::getname),
    ("client|list", client::list),
    ("client|info", client::info),
    ("client|kill", client::kill),
    ("client|setinfo", client::setinfo),
    ("client|no-evict", client::no_evict),
    ("client|no-touch", client::no_touch),
    ("client|reply", client::reply),
    ("client|pause", client::pause),
    ("client|unpause", client::unpause),
    ("client|unblock", client::unblock),
    ("client|help", client::help),
    ("client|tracking", tracking::tracking),
    ("client|caching", tracking::caching),
    ("client|getredir", tracking::getredir),
    ("client|trackinginfo", tracking::trackinginfo),
];

/// Redis's `validateClientName`: printable ASCII without spaces.
pub(crate) fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}
