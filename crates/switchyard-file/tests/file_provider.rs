//! The file provider against real files in temporary directories, watched by the real notify backend
//! and run through the real aggregator.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_config::{Aggregator, Problem, Published, RunningAggregator};
use switchyard_file::FileProvider;
use tokio::sync::watch;

/// How long something that must happen may take on a loaded machine: a bound for failing, not a figure
/// to meet (the figure is `change_latency`'s).
const PATIENCE: Duration = Duration::from_secs(10);

fn router_yaml(name: &str, path: &str) -> String {
    format!(
        "http:\n  routers:\n    {name}:\n      rule: Path(`{path}`)\n      service: backend\n  services:\n    backend:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:9\n"
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write the configuration file");
}

fn start(provider: FileProvider) -> (RunningAggregator, watch::Receiver<Arc<Published>>) {
    let running = Aggregator::new()
        .throttle(Duration::from_millis(10))
        .provider(provider)
        .start()
        .expect("aggregator starts");
    let updates = running.subscribe();
    (running, updates)
}

async fn wait(updates: &mut watch::Receiver<Arc<Published>>, what: impl Fn(&Published) -> bool) -> Arc<Published> {
    tokio::time::timeout(PATIENCE, updates.wait_for(|p| what(p)))
        .await
        .expect("timed out waiting for the configuration")
        .expect("aggregator stopped")
        .clone()
}

fn routers(published: &Published) -> Vec<String> {
    published.runtime.rules.keys().cloned().collect()
}

#[tokio::test]
async fn a_single_file_loads_and_changes_go_live() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.yml");
    write(&file, &router_yaml("first", "/a"));
    let (running, mut updates) = start(FileProvider::file(&file));
    wait(&mut updates, |p| routers(p) == ["first@file"]).await;
    write(&file, &router_yaml("second", "/b"));
    wait(&mut updates, |p| routers(p) == ["second@file"]).await;
    running.shutdown().await;
}

/// The crate's promise that a change is live well within a second, measured: run alone, in release,
/// on a quiet machine (`cargo test --release -p switchyard-file --test file_provider -- --ignored
/// change_latency --nocapture`).
#[ignore = "a speed figure: run alone, in release"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_latency() {
    const CHANGES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.yml");
    write(&file, &router_yaml("r0", "/0"));
    let (running, mut updates) = start(FileProvider::file(&file));
    wait(&mut updates, |p| routers(p) == ["r0@file"]).await;
    let mut took = Vec::new();
    for i in 1..=CHANGES {
        let changed_at = Instant::now();
        write(&file, &router_yaml(&format!("r{i}"), &format!("/{i}")));
        let name = format!("r{i}@file");
        wait(&mut updates, |p| routers(p) == [name.as_str()]).await;
        took.push(changed_at.elapsed());
    }
    running.shutdown().await;
    took.sort();
    let (median, max) = (took[CHANGES / 2], took[CHANGES - 1]);
    println!("a change to a watched file is live after {median:?} (median of {CHANGES}), {max:?} at most");
    assert!(median < Duration::from_secs(1), "median {median:?}");
}

#[tokio::test]
async fn a_directory_merges_yaml_toml_and_json_including_subdirectories() {
    let dir = tempfile::tempdir().unwrap();
    // With a misspelt key: loaded around, and reported.
    let with_typo = router_yaml("from-yaml", "/y").replace("  services:", "      priorty: 3\n  services:");
    write(&dir.path().join("a.yml"), &with_typo);
    write(
        &dir.path().join("b.toml"),
        "[http.routers.from-toml]\nrule = \"Path(`/t`)\"\nservice = \"backend\"\n",
    );
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    write(
        &dir.path().join("nested/c.json"),
        r#"{"http": {"routers": {"from-json": {"rule": "Path(`/j`)", "service": "backend"}}}}"#,
    );
    // Not configuration: ignored.
    write(&dir.path().join("notes.txt"), "not: [yaml");
    write(&dir.path().join(".a.yml.swp"), "not: [yaml");
    write(&dir.path().join("a.yml~"), "not: [yaml");

    let (running, mut updates) = start(FileProvider::directory(dir.path()));
    let published = wait(&mut updates, |p| p.runtime.rules.len() == 3).await;
    assert_eq!(
        routers(&published),
        ["from-json@file", "from-toml@file", "from-yaml@file"]
    );
    assert!(published.providers["file"].last_error.is_none());
    let published = wait(&mut updates, |p| !p.providers["file"].warnings.is_empty()).await;
    let warning = &published.providers["file"].warnings[0];
    assert!(
        warning.contains("a.yml") && warning.contains("unknown key `http.routers.from-yaml.priorty`"),
        "{warning}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn atomic_saves_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.yml");
    write(&file, &router_yaml("before", "/a"));
    let (running, mut updates) = start(FileProvider::file(&file));
    wait(&mut updates, |p| routers(p) == ["before@file"]).await;

    // What editors do: write a temporary file beside the original, then rename it over.
    let temp = dir.path().join(".dynamic.yml.tmp1234");
    write(&temp, &router_yaml("after", "/b"));
    std::fs::rename(&temp, &file).unwrap();
    wait(&mut updates, |p| routers(p) == ["after@file"]).await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_deleted_file_leaves_a_directory_but_a_single_file_keeps_its_last_configuration() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.yml"), &router_yaml("a", "/a"));
    write(
        &dir.path().join("b.yml"),
        &router_yaml("b", "/b").replace("backend", "backend-b"),
    );
    let (running, mut updates) = start(FileProvider::directory(dir.path()));
    wait(&mut updates, |p| p.runtime.rules.len() == 2).await;
    std::fs::remove_file(dir.path().join("b.yml")).unwrap();
    wait(&mut updates, |p| routers(p) == ["a@file"]).await;
    running.shutdown().await;

    let single = dir.path().join("a.yml");
    let (running, mut updates) = start(FileProvider::file(&single));
    wait(&mut updates, |p| routers(p) == ["a@file"]).await;
    std::fs::remove_file(&single).unwrap();
    let published = wait(&mut updates, |p| p.providers["file"].last_error.is_some()).await;
    assert_eq!(routers(&published), ["a@file"]);
    assert!(
        published.providers["file"]
            .last_error
            .as_ref()
            .unwrap()
            .contains("a.yml")
    );
    // Re-created: live again, error cleared.
    write(&single, &router_yaml("recreated", "/r"));
    wait(&mut updates, |p| {
        routers(p) == ["recreated@file"] && p.providers["file"].last_error.is_none()
    })
    .await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_broken_file_keeps_its_last_good_configuration_until_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    let other = dir.path().join("other.yml");
    write(&broken, &router_yaml("stable", "/s"));
    write(&other, &router_yaml("other", "/o").replace("backend", "backend-o"));
    let (running, mut updates) = start(FileProvider::directory(dir.path()));
    wait(&mut updates, |p| p.runtime.rules.len() == 2).await;

    // Half-written: the text stops in the middle of a flow sequence.
    write(
        &broken,
        "http:\n  routers:\n    stable:\n      rule: Path(`/s`)\n      middlewares: [a, b\n",
    );
    let published = wait(&mut updates, |p| p.providers["file"].last_error.is_some()).await;
    let error = published.providers["file"].last_error.clone().unwrap();
    assert!(error.contains("broken.yml:"), "{error}");
    assert_eq!(
        error,
        format!(
            "{}:5:20: at `http.routers.stable.middlewares`: unclosed bracket '['",
            broken.display()
        ),
        "the error names the file, line and column"
    );
    assert!(published.runtime.rules.contains_key("stable@file"));

    // Another file still changes while this one is broken.
    write(&other, &router_yaml("other2", "/o2").replace("backend", "backend-o"));
    wait(&mut updates, |p| p.runtime.rules.contains_key("other2@file")).await;
    assert!(running.current().runtime.rules.contains_key("stable@file"));

    // Fixed: the new content goes live and the error clears.
    write(&broken, &router_yaml("fixed", "/f"));
    wait(&mut updates, |p| {
        p.runtime.rules.contains_key("fixed@file") && p.providers["file"].last_error.is_none()
    })
    .await;
    running.shutdown().await;
}

#[tokio::test]
async fn an_empty_file_is_an_empty_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.toml");
    write(&file, "[http.routers.r]\nrule = \"Path(`/`)\"\nservice = \"s\"\n");
    let (running, mut updates) = start(FileProvider::file(&file));
    wait(&mut updates, |p| p.runtime.report.routers.contains_key("r@file")).await;
    write(&file, "");
    wait(&mut updates, |p| p.runtime.report.routers.is_empty()).await;
    running.shutdown().await;
}

#[tokio::test]
async fn duplicates_keep_the_first_file_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("10-first.yml"), &router_yaml("dup", "/first"));
    write(
        &dir.path().join("20-second.yml"),
        "http:\n  routers:\n    dup:\n      rule: Path(`/second`)\n      service: backend\n    orphan:\n      rule: Path(`/o`)\n      service: nowhere\n",
    );
    let (running, mut updates) = start(FileProvider::directory(dir.path()));
    let published = wait(&mut updates, |p| {
        p.runtime.report.routers.len() == 2 && !p.providers["file"].warnings.is_empty()
    })
    .await;
    assert_eq!(published.runtime.config.http.routers["dup@file"].rule, "Path(`/first`)");
    let warning = &published.providers["file"].warnings[0];
    assert!(
        warning.contains("20-second.yml") && warning.contains("router `dup`") && warning.contains("10-first.yml"),
        "{warning}"
    );
    let orphan = &published.runtime.report.routers["orphan@file"];
    assert_eq!(orphan.errors[0].problem, Problem::MissingService("nowhere@file".into()));
    let origin = orphan.errors[0].origin.as_deref().unwrap();
    assert!(origin.ends_with("20-second.yml"), "{origin}");
    running.shutdown().await;
}

#[tokio::test]
async fn go_templates_are_reported_not_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.yml");
    write(
        &file,
        "http:\n  routers:\n{{ range $i, $e := until 3 }}\n    r{{ $e }}:\n      rule: Path(`/{{ $e }}`)\n{{ end }}\n",
    );
    let (running, mut updates) = start(FileProvider::file(&file));
    let published = wait(&mut updates, |p| p.providers["file"].last_error.is_some()).await;
    let error = published.providers["file"].last_error.clone().unwrap();
    assert!(error.contains("Go templates"), "{error}");
    assert!(published.runtime.rules.is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn filename_and_directory_are_exclusive() {
    for (filename, directory) in [(None, None), (Some("a.yml".into()), Some("conf".into()))] {
        let (running, mut updates) = start(FileProvider::from_options(filename, directory, true));
        let published = wait(&mut updates, |p| p.providers["file"].ended).await;
        let error = published.providers["file"].last_error.clone().unwrap();
        assert!(error.contains("exactly one of `filename` and `directory`"), "{error}");
        running.shutdown().await;
    }
}

#[tokio::test]
async fn without_watch_changes_are_not_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.yml");
    write(&file, &router_yaml("once", "/a"));
    let (running, mut updates) = start(FileProvider::file(&file).watch(false));
    let first = wait(&mut updates, |p| routers(p) == ["once@file"]).await;
    write(&file, &router_yaml("never", "/b"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(running.current().generation, first.generation);
    running.shutdown().await;
}

#[tokio::test]
async fn a_missing_directory_is_reported_and_picked_up_once_created() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("conf.d");
    let (running, mut updates) = start(FileProvider::directory(&dir));
    let published = wait(&mut updates, |p| p.providers["file"].last_error.is_some()).await;
    assert!(
        published.providers["file"]
            .last_error
            .as_ref()
            .unwrap()
            .contains("conf.d")
    );
    std::fs::create_dir(&dir).unwrap();
    write(&dir.join("late.yml"), &router_yaml("late", "/l"));
    wait(&mut updates, |p| routers(p) == ["late@file"]).await;
    running.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_a_provider_watching_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.yml"), &router_yaml("a", "/a"));
    let (running, mut updates) = start(FileProvider::directory(dir.path()));
    wait(&mut updates, |p| p.generation > 0).await;
    tokio::time::timeout(PATIENCE, running.shutdown())
        .await
        .expect("shutdown ends while the directory is watched");
    // What was published before shutdown is seen; after it, the aggregator is gone.
    let _ = updates.borrow_and_update();
    write(&dir.path().join("b.yml"), &router_yaml("b", "/b"));
    let after = tokio::time::timeout(PATIENCE, updates.changed()).await;
    assert!(
        matches!(after, Ok(Err(_))),
        "the aggregator is gone, and published nothing more: {after:?}"
    );
}
