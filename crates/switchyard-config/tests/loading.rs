//! Loading text into the model: the same configuration from every format, and errors that say where.

use switchyard_config::{Duration, DynamicConfig, Format, ParseError, load_file, load_str};

fn load(text: &str, format: Format) -> Result<DynamicConfig, ParseError> {
    load_str::<DynamicConfig>(text, format, "test").map(|loaded| loaded.value)
}

#[test]
fn yaml_toml_and_json_read_the_same_configuration() {
    let yaml = r#"
http:
  routers:
    api:
      rule: Host(`api.example.com`) && PathPrefix(`/v1`)
      service: api
      priority: 42
      middlewares: [auth, strip]
      entryPoints: [websecure]
      tls:
        options: modern
"#;
    let toml = r#"
[http.routers.api]
rule = "Host(`api.example.com`) && PathPrefix(`/v1`)"
service = "api"
priority = 42
middlewares = ["auth", "strip"]
entryPoints = ["websecure"]
[http.routers.api.tls]
options = "modern"
"#;
    let json = r#"{"http": {"routers": {"api": {
        "rule": "Host(`api.example.com`) && PathPrefix(`/v1`)", "service": "api", "priority": 42,
        "middlewares": ["auth", "strip"], "entryPoints": ["websecure"], "tls": {"options": "modern"}}}}}"#;
    let from_yaml = load(yaml, Format::Yaml).unwrap();
    assert_eq!(from_yaml, load(toml, Format::Toml).unwrap());
    assert_eq!(from_yaml, load(json, Format::Json).unwrap());
    let router = &from_yaml.http.routers["api"];
    assert_eq!(router.priority, 42);
    assert_eq!(router.middlewares, ["auth", "strip"]);
    assert_eq!(router.tls.as_ref().unwrap().options, "modern");
}

#[test]
fn errors_name_the_line_column_and_key_path() {
    let cases = [
        (
            Format::Yaml,
            "http:\n  routers:\n    api:\n      rule: Path(`/`)\n      priority: high\n",
            Some((5, 17)),
            Some("http.routers.api.priority"),
        ),
        (
            Format::Toml,
            "[http.routers.api]\nrule = \"Path(`/`)\"\npriority = \"high\"\n",
            Some((3, 12)),
            Some("http.routers.api.priority"),
        ),
        (
            Format::Json,
            "{\"http\": {\"routers\": {\"api\": {\n  \"middlewares\": \"auth\"}}}}",
            Some((2, 23)),
            Some("http.routers.api.middlewares"),
        ),
        // Syntax errors: a position, and the key path as far as parsing got.
        (Format::Yaml, "http: \"unterminated\n", Some((1, 7)), None),
        // A value of the wrong shape is a type error, with the key path.
        (
            Format::Yaml,
            "http:\n  routers: [\n",
            Some((2, 12)),
            Some("http.routers"),
        ),
        (Format::Toml, "[http.routers.api\n", Some((1, 18)), None),
        (Format::Json, "{\"http\": }", Some((1, 10)), Some("http")),
    ];
    for (format, text, position, key_path) in cases {
        let err = load(text, format).unwrap_err();
        assert_eq!(err.position, position, "{format:?}: {err}");
        assert_eq!(err.key_path.as_deref(), key_path, "{format:?}: {err}");
        assert_eq!(err.origin, "test");
        assert!(!err.message.is_empty());
        assert!(!err.message.contains('\n'), "one-line message: {:?}", err.message);
    }
}

#[test]
fn the_display_leads_with_file_line_and_column() {
    let err = load("http:\n  routers:\n    api:\n      priority: high\n", Format::Yaml).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with("test:4:17: at `http.routers.api.priority`: "),
        "{shown}"
    );
}

#[test]
fn unknown_keys_are_reported_and_the_rest_loads() {
    let yaml = "http:\n  routers:\n    api:\n      rule: Path(`/`)\n      service: api\n      middelwares: [x]\n  colour: blue\nlog: {}\n";
    let loaded = load_str::<DynamicConfig>(yaml, Format::Yaml, "dynamic.yml").unwrap();
    let keys: Vec<_> = loaded.unknown_keys.iter().map(|k| k.key_path.as_str()).collect();
    assert_eq!(keys, ["http.routers.api.middelwares", "http.colour", "log"]);
    assert_eq!(
        loaded.unknown_keys[0].to_string(),
        "dynamic.yml: unknown key `http.routers.api.middelwares` ignored"
    );
    assert_eq!(loaded.value.http.routers["api"].service, "api");
}

#[test]
fn empty_and_comment_only_files_are_empty_configurations() {
    for (format, text) in [
        (Format::Yaml, ""),
        (Format::Yaml, "# nothing yet\n---\n"),
        (Format::Toml, "  \n"),
        (Format::Json, ""),
    ] {
        assert_eq!(
            load(text, format).unwrap(),
            DynamicConfig::default(),
            "{format:?} {text:?}"
        );
    }
}

#[test]
fn files_are_read_by_extension_and_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let yml = dir.join("dynamic.yaml");
    std::fs::write(
        &yml,
        "http:\n  routers:\n    r:\n      rule: Path(`/`)\n      service: s\n",
    )
    .unwrap();
    assert_eq!(
        load_file::<DynamicConfig>(&yml).unwrap().value.http.routers["r"].service,
        "s"
    );

    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[http\n").unwrap();
    let err = load_file::<DynamicConfig>(&broken).unwrap_err().to_string();
    assert_eq!(err, format!("{}:1:6: unclosed table, expected `]`", broken.display()));

    let txt = dir.join("notes.txt");
    std::fs::write(&txt, "").unwrap();
    assert_eq!(
        load_file::<DynamicConfig>(&txt).unwrap_err().to_string(),
        format!(
            "{}: unsupported file extension (expected .yml, .yaml, .toml or .json)",
            txt.display()
        )
    );
    let missing = dir.join("missing.yml");
    let err = load_file::<DynamicConfig>(&missing).unwrap_err().to_string();
    // The operating system's "no such file" (ENOENT).
    assert_eq!(
        err,
        format!("{}: {}", missing.display(), std::io::Error::from_raw_os_error(2))
    );
}

#[test]
fn durations_read_as_traefik_writes_them() {
    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    struct Timeouts {
        a: Duration,
        b: Duration,
        c: Duration,
    }
    let loaded = load_str::<Timeouts>("a: 1m30s\nb: 42\nc: \"250ms\"\n", Format::Yaml, "t")
        .unwrap()
        .value;
    assert_eq!(loaded.a, Duration::from_secs(90));
    assert_eq!(loaded.b, Duration::from_secs(42));
    assert_eq!(loaded.c, Duration::from_millis(250));
    let err = load_str::<Timeouts>("a = \"5 minutes\"\n", Format::Toml, "t.toml").unwrap_err();
    assert_eq!(err.key_path.as_deref(), Some("a"));
    assert_eq!(err.position, Some((1, 5)), "{err}");
    assert_eq!(
        err.message,
        "invalid duration `5 minutes`: unknown unit (expected ns, us, ms, s, m or h)"
    );
}

#[test]
fn tcp_and_udp_sections_are_read() {
    let yaml = "tcp:\n  routers:\n    db: {rule: 'HostSNI(`*`)', service: db}\nudp:\n  services:\n    dns: {loadBalancer: {servers: [{address: '10.0.0.53:53'}]}}\n";
    let config = load(yaml, Format::Yaml).unwrap();
    assert_eq!(config.tcp.routers["db"].service, "db");
    assert_eq!(
        config.udp.services["dns"].load_balancer.as_ref().unwrap().servers[0].address,
        "10.0.0.53:53"
    );
}

#[test]
fn unknown_keys_inside_optional_sections_have_plain_paths() {
    let yaml =
        "http:\n  routers:\n    api:\n      rule: Path(`/`)\n      service: api\n      tls:\n        optons: modern\n";
    let loaded = load_str::<DynamicConfig>(yaml, Format::Yaml, "t.yml").unwrap();
    assert_eq!(loaded.unknown_keys[0].key_path, "http.routers.api.tls.optons");
}
