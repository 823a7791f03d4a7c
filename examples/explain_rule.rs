//! Parses a Traefik rule, shows how switchyard reads it, and tries it against requests.
//!
//! ```text
//! cargo run --example explain_rule
//! cargo run --example explain_rule -- 'Host(`api.example.com`) && PathPrefix(`/v1`)' http://api.example.com/v1/users
//! ```
//!
//! The first argument is the rule; every further argument is a request URL to try (prefix it with
//! a method and a space, `"POST http://…"`, to change the method).

use std::process::ExitCode;

use switchyard::rules::{Expr, RequestView, Rule};

const DEFAULT_RULE: &str = "Host(`example.com`) && (PathPrefix(`/api`) || Query(`debug`)) && !Method(`DELETE`)";
const DEFAULT_REQUESTS: &[&str] = &[
    "http://example.com/api/users",
    "http://EXAMPLE.com:8443/apiv2",
    "http://example.com/?debug",
    "DELETE http://example.com/api/users/42",
    "http://other.example/api",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source = args.first().map_or(DEFAULT_RULE, String::as_str);
    let requests: Vec<&str> = if args.len() > 1 {
        args[1..].iter().map(String::as_str).collect()
    } else {
        DEFAULT_REQUESTS.to_vec()
    };

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
        let (method, url) = line.split_once(' ').unwrap_or(("GET", line));
        let request = match http::Request::builder().method(method).uri(url).body(()) {
            Ok(request) => request,
            Err(err) => {
                println!("  ?  {line}: not a valid request ({err})");
                continue;
            }
        };
        let (parts, _) = request.into_parts();
        match RequestView::new(&parts, None) {
            Ok(view) => {
                let verdict = if rule.matches(&view) { "match" } else { "no match" };
                println!("  {verdict:<8}  {method} {url}");
            }
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
