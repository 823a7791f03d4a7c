//! Explains routing: how switchyard reads a rule, and how a live gateway routes a request and why.
//!
//! ```text
//! cargo run --example explain_rule
//! cargo run --example explain_rule -- 'Host(`api.example.com`) && PathPrefix(`/v1`)' http://api.example.com/v1/users
//! ```
//!
//! Without arguments it starts a gateway (no socket: its entrypoint is embedded) over a small shop
//! configuration, prints the routers its report calls unreachable or possibly shadowed, then explains
//! a few requests from the live snapshot, as `/api/explain` does: the router that wins with its
//! priority and the parts of its rule that matched, the routers that lose, the middlewares, the
//! service and the server. Nothing is sent to the (made-up) servers.
//!
//! With arguments, the first is a rule and every further argument a request URL to try against it
//! (prefix it with a method and a space, `"POST http://…"`, to change the method).

use std::process::ExitCode;

use switchyard::Gateway;
use switchyard::config::{
    DynamicConfig, LoadBalancer, MemoryProvider, Middleware, Router, Service, StaticConfig, StripPrefix,
};
use switchyard::proxy::{ExplainRequest, Explanation};
use switchyard::rules::{Expr, RequestView, Rule};

/// The requests the demo explains.
pub const DEMO_REQUESTS: &[&str] = &[
    "GET http://shop.example/api/orders/7",
    "POST http://shop.example/cart",
    "GET http://cdn.example/static/img/logo.png",
    "GET http://other.example/",
];

/// What the demo found: the report's warnings about shadowed routers, and one explanation per request.
#[derive(Debug)]
pub struct Demo {
    /// `key.path: problem` for every router the report warns about.
    pub warnings: Vec<String>,
    /// The explanation of each of [`DEMO_REQUESTS`].
    pub explanations: Vec<Explanation>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return match run().await {
            Ok(demo) => {
                print_demo(&demo);
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        };
    }
    explain_rule(&args[0], &args[1..])
}

/// The demo shop: an API behind a middleware, a router the API always wins over, a static area by
/// regexp with a prefix router under it, and the site.
fn shop() -> DynamicConfig {
    let mut config = DynamicConfig::default();
    let routers = &mut config.http.routers;
    let mut api = Router::new("Host(`shop.example`) && PathPrefix(`/api`)", "api");
    api.priority = 100;
    api.middlewares = vec!["strip-api".into()];
    routers.insert("api".into(), api);
    let mut orders = Router::new(
        "Host(`shop.example`) && PathPrefix(`/api/orders`) && Method(`GET`)",
        "api",
    );
    orders.priority = 50;
    routers.insert("orders".into(), orders);
    let mut assets = Router::new("PathRegexp(`^/static/`)", "cdn");
    assets.priority = 40;
    routers.insert("assets".into(), assets);
    routers.insert("images".into(), Router::new("PathPrefix(`/static/img`)", "cdn"));
    routers.insert("site".into(), Router::new("Host(`shop.example`)", "site"));
    let strip = StripPrefix {
        prefixes: vec!["/api".into()],
        ..StripPrefix::default()
    };
    config
        .http
        .middlewares
        .insert("strip-api".into(), Middleware::StripPrefix(strip));
    let services = &mut config.http.services;
    services.insert(
        "api".into(),
        Service::from(LoadBalancer::with_urls(["http://10.0.0.1:8080"])),
    );
    services.insert(
        "cdn".into(),
        Service::from(LoadBalancer::with_urls(["http://10.0.0.9:80"])),
    );
    let site = LoadBalancer::with_urls(["http://10.0.0.2:80", "http://10.0.0.3:80"]);
    services.insert("site".into(), Service::from(site));
    config
}

/// Starts the demo gateway, reads its report, explains [`DEMO_REQUESTS`], and stops it.
pub async fn run() -> Result<Demo, Box<dyn std::error::Error>> {
    let (provider, _handle) = MemoryProvider::new("demo", shop());
    let gateway = Gateway::new(&StaticConfig::default())
        .embedded("web")
        .provider(provider)
        .start()
        .await?;
    let snapshot = gateway.wait_for(|s| s.generation() > 0).await;
    let warnings = snapshot.report().errors().map(ToString::to_string).collect();
    let mut explanations = Vec::new();
    for line in DEMO_REQUESTS {
        let (method, url) = line.split_once(' ').unwrap_or(("GET", line));
        explanations.push(snapshot.explain(&ExplainRequest::new(method, url)?.entry_point("web"))?);
    }
    gateway.shutdown().await;
    Ok(Demo { warnings, explanations })
}

fn print_demo(demo: &Demo) {
    println!("report");
    for warning in &demo.warnings {
        println!("  {warning}");
    }
    for (line, explanation) in DEMO_REQUESTS.iter().zip(&demo.explanations) {
        println!("\n{line}");
        match &explanation.router {
            Some(router) => println!(
                "  router      {} (priority {}), matched {}",
                router.name,
                router.priority,
                router.matched.join(" && ")
            ),
            None => println!("  router      none"),
        }
        for loser in &explanation.losers {
            println!("  also        {} (priority {}) loses", loser.name, loser.priority);
        }
        if let Some(refused) = &explanation.refused {
            println!("  answered    {} by the entrypoint: {}", refused.status, refused.reason);
        }
        if !explanation.middlewares.is_empty() {
            println!("  middlewares {}", explanation.middlewares.join(", "));
        }
        if let Some(service) = &explanation.service {
            let servers: Vec<&str> = service.servers.iter().map(|s| s.url.as_str()).collect();
            println!(
                "  service     {} ({}: {})",
                service.name,
                service.kind,
                servers.join(", ")
            );
        }
        match &explanation.server {
            Some(server) => println!("  server      {server}"),
            None if explanation.service.is_some() => println!("  server      chosen per request by the load balancer"),
            None => {}
        }
    }
}

/// Parses `source`, shows how switchyard reads it, and tries it against `requests`.
fn explain_rule(source: &str, requests: &[String]) -> ExitCode {
    println!("rule      {source}");
    let rule = match Rule::parse(source) {
        Ok(rule) => rule,
        Err(err) => {
            println!("          {}^", " ".repeat(err.column().saturating_sub(1)));
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("canonical {}", rule.expr());
    println!(
        "priority  {} (the rule's length, Traefik's default)",
        rule.default_priority()
    );
    println!("\nstructure");
    print_tree(rule.expr(), 1);

    println!("\nrequests");
    for line in requests {
        let (method, url) = line.split_once(' ').unwrap_or(("GET", line.as_str()));
        let request = match http::Request::builder().method(method).uri(url).body(()) {
            Ok(request) => request,
            Err(err) => {
                println!("  ?  {line}: not a valid request ({err})");
                continue;
            }
        };
        let (parts, _) = request.into_parts();
        match RequestView::new(&parts, None) {
            Ok(view) => match rule.expr().matched_parts(&view) {
                Some(parts) => {
                    let parts: Vec<String> = parts.iter().map(ToString::to_string).collect();
                    println!("  match     {method} {url}  (by {})", parts.join(" && "));
                }
                None => println!("  no match  {method} {url}"),
            },
            Err(err) => println!("  400       {method} {url}: {err}"),
        }
    }
    ExitCode::SUCCESS
}

fn print_tree(expr: &Expr, depth: usize) {
    let indent = "  ".repeat(depth);
    match expr {
        Expr::Matcher(m) => println!("{indent}{m}"),
        Expr::Not(inner) => {
            println!("{indent}NOT");
            print_tree(inner, depth + 1);
        }
        Expr::And(all) => {
            println!("{indent}ALL OF");
            all.iter().for_each(|e| print_tree(e, depth + 1));
        }
        Expr::Or(any) => {
            println!("{indent}ANY OF");
            any.iter().for_each(|e| print_tree(e, depth + 1));
        }
    }
}
