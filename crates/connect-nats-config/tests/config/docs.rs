//! docs/configuration.md holds the table of every setting, generated from
//! the same table the code reads.

use connect_nats_config::SETTINGS;

fn code(text: Option<&str>) -> String {
    match text {
        Some(t) => format!("`{t}`"),
        None => "—".to_owned(),
    }
}

/// The settings table as it must appear in docs/configuration.md.
fn rendered_table() -> String {
    let mut out = String::from(
        "| Environment variable | File key | NATS CLI context field | Default | Meaning |\n\
         |---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let meaning = if s.secret {
            format!("{} Secret: shown as `***`.", s.meaning)
        } else {
            s.meaning.to_owned()
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            code(s.env),
            s.key,
            code(s.context),
            code(s.default.map(|d| d.to_string()).as_deref()),
            meaning
        ));
    }
    out.push_str(
        "| `NATS_CONFIG_FILE` | — | — | — | Path of the config file (`.yaml`, `.yml`, `.json` or `.toml`). `ConfigBuilder::file` / `--file` take precedence. |\n\
         | `NATS_CONTEXT` | `context` | — | — | NATS CLI context to read, by name or path (in a file, a relative path is relative to the file); none by default: the one selected with `nats context select` is never read on its own. `ConfigBuilder::context` / `--context` take precedence, then `NATS_CONTEXT`, then the file key. |\n",
    );
    out
}

#[test]
fn the_docs_table_matches_the_settings_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let docs = std::fs::read_to_string(path).unwrap_or_default();
    let table = rendered_table();
    assert!(
        docs.contains(&table),
        "docs/configuration.md must contain this table verbatim:\n\n{table}"
    );
}
