//! A key-value bucket holding typed values: put, get, and a compare-and-set update on the
//! revision. Values are JSON; a value that does not decode is an error naming its key.

use connect_nats_config::Config;
use connect_nats_jetstream::{connect_with_jetstream, ensure_kv, KvSpec, TypedKv};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Presence {
    online: bool,
    lobby: Option<u32>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let js = connect_with_jetstream(&config, &[]).await?;

    // Created when missing, left as it is when it exists.
    let store = ensure_kv(&js.jetstream, KvSpec::new("presence")).await?;
    let presence: TypedKv<Presence> = TypedKv::new(store);

    let revision = presence
        .put(
            "user.42",
            &Presence {
                online: true,
                lobby: None,
            },
        )
        .await?;
    println!("stored at revision {revision}");

    // Only succeeds if nobody wrote the key since `revision`.
    let joined = Presence {
        online: true,
        lobby: Some(7),
    };
    presence.update("user.42", &joined, revision).await?;

    println!("now: {:?}", presence.get("user.42").await?);
    Ok(())
}
