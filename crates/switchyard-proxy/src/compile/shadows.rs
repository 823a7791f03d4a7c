//! Routers no request can reach: on each entrypoint, every request their rule matches goes to routers
//! tried before them ([`RouteTable::shadowed`](switchyard_rules::RouteTable::shadowed)). Reported as
//! warnings, once per entrypoint where it happens; the routers stay live.

use switchyard_config::Problem;
use switchyard_rules::{RouteTable, Shadowed};

use super::findings::Findings;
use crate::snapshot::{EntryPointInfo, EntryPointTables, RouteTarget};

/// Reports the shadowed routers of every entrypoint's tables.
pub(crate) fn report(tables: &[EntryPointTables], entry_points: &[EntryPointInfo], findings: &mut Findings<'_>) {
    for (entry_point, tables) in entry_points.iter().zip(tables) {
        for (table, tls) in [(&tables.plain, ""), (&tables.tls, " (TLS)")] {
            for shadowed in table.shadowed() {
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
