//! Routers no request can reach: on each entrypoint, every request their rule matches goes to routers
//! tried before them ([`RouteTable::shadowed`](switchyard_rules::RouteTable::shadowed)). Reported as
//! warnings, once per entrypoint where it happens; the routers stay live.
//!
//! Routers shadowed only by an entrypoint's `http.redirections` router are not reported: redirecting
//! every request of the entrypoint is what that option asks for, and Traefik users commonly leave
//! routers on every entrypoint beside it.

use switchyard_config::{Problem, Published};
use switchyard_rules::{RouteTable, Shadowed};

use super::NOOP_SERVICE;
use super::findings::Findings;
use crate::snapshot::{EntryPointInfo, EntryPointTables, RouteTarget};

/// Reports the shadowed routers of every entrypoint's tables.
pub(crate) fn report(
    tables: &[EntryPointTables],
    entry_points: &[EntryPointInfo],
    published: &Published,
    findings: &mut Findings<'_>,
) {
    let redirection = |name: &str| {
        name.ends_with("@internal")
            && (published.runtime.config.http.routers.get(name)).is_some_and(|r| r.service == NOOP_SERVICE)
    };
    for (entry_point, tables) in entry_points.iter().zip(tables) {
        for (table, tls) in [(&tables.plain, ""), (&tables.tls, " (TLS)")] {
            for shadowed in table.shadowed() {
                if shadowed.by().iter().all(|&i| redirection(table.routes()[i].name())) {
                    continue;
                }
                let on = format!("entrypoint `{}`{tls}", entry_point.name);
                let route = &table.routes()[shadowed.route()];
                findings.router(
                    route.name(),
                    "rule",
                    Problem::Shadowed(message(table, &shadowed, &on)),
                    false,
                );
            }
        }
    }
}

/// What to tell about one shadowed route.
fn message(table: &RouteTable<RouteTarget>, shadowed: &Shadowed, on: &str) -> String {
    let by: Vec<String> = shadowed
        .by()
        .iter()
        .map(|&i| {
            let route = &table.routes()[i];
            format!("`{}` (priority {})", route.name(), route.priority())
        })
        .collect();
    let by = by.join(", ");
    if shadowed.is_certain() {
        format!("unreachable on {on}: every request the rule matches goes first to {by}")
    } else {
        format!(
            "may be shadowed on {on}: {by} may take every request the rule matches (its regexp or path template could only be compared by its literal prefix)"
        )
    }
}
