//! The header policy: environment, file key, builder, and refused values.

use connect_nats_config::{Config, ConfigErrorKind, HeaderPolicy, Layer};

use crate::support::{fails, load, mentions, resolved, with_env, Fixture};

#[test]
fn the_default_is_minimal() {
    assert_eq!(load(&[]).headers(), HeaderPolicy::Minimal);
    assert_eq!(Config::default().headers(), HeaderPolicy::Minimal);
}

#[test]
fn env_file_and_builder_set_it() {
    assert_eq!(
        load(&[("NATS_HEADERS", "full")]).headers(),
        HeaderPolicy::Full
    );
    assert_eq!(
        load(&[("NATS_HEADERS", " Minimal ")]).headers(),
        HeaderPolicy::Minimal
    );

    let fx = Fixture::new();
    let file = fx.write("svc.yaml", "headers: full\n");
    let r = resolved(Config::builder().without_process_env().file(file));
    assert_eq!(r.config.headers(), HeaderPolicy::Full);
    assert_eq!(r.sources.layer("headers"), Some(Layer::File));

    let c = with_env(&[("NATS_HEADERS", "full")])
        .headers(HeaderPolicy::Minimal)
        .build()
        .unwrap();
    assert_eq!(c.headers(), HeaderPolicy::Minimal, "code wins over env");
}

#[test]
fn an_unknown_policy_is_refused_with_the_choices() {
    let err = fails(
        with_env(&[("NATS_HEADERS", "all")]),
        ConfigErrorKind::InvalidValue,
    );
    mentions(&err, &["NATS_HEADERS", "all", "minimal", "full"]);
}
