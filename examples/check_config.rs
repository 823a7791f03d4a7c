//! Point switchyard at your Traefik configuration and see what it makes of it.
//!
//! ```sh
//! cargo run --example check_config -- traefik.yml            # a static file with providers.file
//! cargo run --example check_config -- conf.d/                # a directory of dynamic files
//! cargo run --example check_config -- dynamic.toml --watch   # keep reporting as files change
//! ```
//!
//! Prints the routers that would go live (rule, priority, entrypoints, middlewares, service) and every
//! problem found: unknown keys, parse errors with file, line and column, broken references.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard::config::{Aggregator, Format, Published, StaticConfig, load_file};
use switchyard::file::FileProvider;
use switchyard::rules::Rule;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let watch = args.iter().any(|a| a == "--watch");
    args.retain(|a| a != "--watch");
    let Some(target) = args.first().map(PathBuf::from) else {
        eprintln!("usage: check_config <static.yml | dynamic file | directory> [--watch]");
        std::process::exit(2);
    };
    let (aggregator, provider) = match setup(&target) {
        Ok(setup) => setup,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(1);
        }
    };
    let running = aggregator
        .throttle(Duration::from_millis(100))
        .provider(provider.watch(watch))
        .start()
        .expect("one provider");
    let mut updates = running.subscribe();
    while updates.changed().await.is_ok() {
        let published = updates.borrow_and_update().clone();
        if published.generation == 0 {
            continue;
        }
        print_report(&published);
        if !watch {
            break;
        }
    }
    running.shutdown().await;
}

/// Chooses the file provider (and entrypoints) from what the path is.
fn setup(target: &Path) -> Result<(Aggregator, FileProvider), String> {
    if target.is_dir() {
        return Ok((Aggregator::new(), FileProvider::directory(target)));
    }
    if Format::from_path(target).is_none() {
        return Err(format!(
            "{}: expected a .yml, .yaml, .toml or .json file, or a directory",
            target.display()
        ));
    }
    let loaded = load_file::<StaticConfig>(target).map_err(|e| e.to_string())?;
    let Some(file) = loaded.value.providers.file.clone() else {
        // Not a static configuration with a file provider: read it as dynamic configuration.
        return Ok((Aggregator::new(), FileProvider::file(target)));
    };
    for key in &loaded.unknown_keys {
        println!("warning  {key}");
    }
    // Relative paths in the static file are relative to where it lives, as when Traefik runs there.
    let base = target.parent().unwrap_or(Path::new("."));
    let resolve = |p: Option<PathBuf>| p.map(|p| if p.is_relative() { base.join(p) } else { p });
    let provider = FileProvider::from_options(resolve(file.filename), resolve(file.directory), file.watch);
    Ok((Aggregator::for_static(&loaded.value), provider))
}

fn print_report(published: &Published) {
    println!("== configuration #{}", published.generation);
    let runtime = &published.runtime;
    for (name, router) in &runtime.config.http.routers {
        let priority = match router.priority {
            0 => runtime.rules.get(name).map_or(0, Rule::default_priority),
            explicit => explicit,
        };
        println!(
            "router   {name}  [{}]  priority {priority}",
            router.entry_points.join(", ")
        );
        println!("         rule        {}", router.rule);
        if !router.middlewares.is_empty() {
            println!("         middlewares {}", router.middlewares.join(" -> "));
        }
        println!("         service     {}", router.service);
    }
    for (name, status) in &published.providers {
        if let Some(error) = &status.last_error {
            println!("error    provider {name}: {error}");
        }
    }
    for error in runtime.report.errors() {
        println!("error    {error}");
    }
}
