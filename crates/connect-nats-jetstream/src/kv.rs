//! Key-value buckets: [`ensure_kv`] and the typed [`TypedKv`].

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store};
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use connect_nats_config::StorageKind;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::JetStreamError;

/// A declared key-value bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvSpec {
    /// Bucket name (letters, digits, `-`, `_`).
    pub bucket: String,
    /// Human description.
    pub description: Option<String>,
    /// Values kept per key, 1 to 64. Default 1.
    pub history: i64,
    /// How long a value lives; `None` is forever.
    pub ttl: Option<Duration>,
    /// Maximum total size in bytes; `None` is unlimited.
    pub max_bytes: Option<i64>,
    /// Maximum size of one value in bytes; `None` is unlimited.
    pub max_value_size: Option<i32>,
    /// Where values are stored. Default file.
    pub storage: StorageKind,
    /// Replicas, 1 to 5. Default 1.
    pub replicas: usize,
}

impl KvSpec {
    /// A bucket named `bucket` with every other setting at its default.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            description: None,
            history: 1,
            ttl: None,
            max_bytes: None,
            max_value_size: None,
            storage: StorageKind::File,
            replicas: 1,
        }
    }

    fn validate(&self) -> Result<(), JetStreamError> {
        let invalid = |field: &'static str, reason: &str| JetStreamError::InvalidSpec {
            what: "key-value spec",
            name: self.bucket.clone(),
            field,
            reason: reason.to_owned(),
        };
        if self.bucket.is_empty()
            || !self
                .bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "bucket",
                "must be non-empty letters, digits, `-` and `_`",
            ));
        }
        if !(1..=64).contains(&self.history) {
            return Err(invalid("history", "must be between 1 and 64"));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(invalid("replicas", "must be between 1 and 5"));
        }
        if self.max_bytes.is_some_and(|v| v <= 0) {
            return Err(invalid(
                "max_bytes",
                "must be positive; leave it out for unlimited",
            ));
        }
        if self.max_value_size.is_some_and(|v| v <= 0) {
            return Err(invalid(
                "max_value_size",
                "must be positive; leave it out for unlimited",
            ));
        }
        Ok(())
    }

    fn to_config(&self) -> kv::Config {
        kv::Config {
            bucket: self.bucket.clone(),
            description: self.description.clone().unwrap_or_default(),
            max_value_size: self.max_value_size.unwrap_or(-1),
            history: self.history,
            max_age: self.ttl.unwrap_or_default(),
            max_bytes: self.max_bytes.unwrap_or(-1),
            storage: match self.storage {
                StorageKind::File => StorageType::File,
                StorageKind::Memory => StorageType::Memory,
            },
            num_replicas: self.replicas,
            ..Default::default()
        }
    }
}

/// Creates the bucket, or updates it to match `spec`, and returns it.
///
/// A setting the server cannot change in place (the storage type) fails with
/// [`JetStreamError::Bucket`] carrying the server's reason.
pub async fn ensure_kv(js: &Context, spec: KvSpec) -> Result<Store, JetStreamError> {
    spec.validate()?;
    js.create_or_update_key_value(spec.to_config())
        .await
        .map_err(|e| JetStreamError::Bucket {
            bucket: spec.bucket.clone(),
            action: "created or updated",
            reason: e.to_string(),
        })
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOperation {
    /// A value was put.
    Put,
    /// The key was deleted.
    Delete,
    /// The key and its history were purged.
    Purge,
}

impl From<Operation> for KvOperation {
    fn from(op: Operation) -> Self {
        match op {
            Operation::Put => KvOperation::Put,
            Operation::Delete => KvOperation::Delete,
            Operation::Purge => KvOperation::Purge,
        }
    }
}

/// A decoded entry of a [`TypedKv`].
#[derive(Debug, Clone, PartialEq)]
pub struct TypedEntry<T> {
    /// The key.
    pub key: String,
    /// The entry's revision (use it with [`TypedKv::update`]).
    pub revision: u64,
    /// What happened.
    pub operation: KvOperation,
    /// The value, for [`KvOperation::Put`]; `None` for deletes and purges.
    pub value: Option<T>,
}

/// A key-value bucket whose values are JSON-encoded `T`s.
///
/// Every error names the bucket and the key; a value that does not decode
/// as `T` fails with [`JetStreamError::KvDecode`].
#[derive(Debug)]
pub struct TypedKv<T> {
    store: Store,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for TypedKv<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> TypedKv<T> {
    /// Wraps a bucket.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            _type: PhantomData,
        }
    }

    /// Opens an existing bucket.
    pub async fn open(js: &Context, bucket: &str) -> Result<Self, JetStreamError> {
        js.get_key_value(bucket)
            .await
            .map(Self::new)
            .map_err(|e| JetStreamError::Bucket {
                bucket: bucket.to_owned(),
                action: "opened",
                reason: e.to_string(),
            })
    }

    /// The underlying async-nats bucket.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.store.name
    }

    /// The current value of `key`; `None` when absent or deleted.
    pub async fn get(&self, key: &str) -> Result<Option<T>, JetStreamError> {
        Ok(self.entry(key).await?.and_then(|entry| entry.value))
    }

    /// The current entry of `key` with its revision; `None` when the key never existed.
    pub async fn entry(&self, key: &str) -> Result<Option<TypedEntry<T>>, JetStreamError> {
        let entry = self
            .store
            .entry(key)
            .await
            .map_err(|e| self.op_error(key, "get", e))?;
        entry.map(|entry| self.decode(entry)).transpose()
    }

    /// Stores `value` under `key`; returns the new revision.
    pub async fn put(&self, key: &str, value: &T) -> Result<u64, JetStreamError> {
        let bytes = self.encode(key, value)?;
        self.store
            .put(key, bytes)
            .await
            .map_err(|e| self.op_error(key, "put", e))
    }

    /// Stores `value` under `key` only if the key does not exist (or was
    /// deleted); returns the new revision.
    pub async fn create(&self, key: &str, value: &T) -> Result<u64, JetStreamError> {
        let bytes = self.encode(key, value)?;
        self.store
            .create(key, bytes)
            .await
            .map_err(|e| self.op_error(key, "create", e))
    }

    /// Stores `value` under `key` only if its current revision is `revision`
    /// (optimistic concurrency); returns the new revision.
    pub async fn update(&self, key: &str, value: &T, revision: u64) -> Result<u64, JetStreamError> {
        let bytes = self.encode(key, value)?;
        self.store
            .update(key, bytes, revision)
            .await
            .map_err(|e| self.op_error(key, "update", e))
    }

    /// Deletes `key` (a delete marker is kept in its history).
    pub async fn delete(&self, key: &str) -> Result<(), JetStreamError> {
        self.store
            .delete(key)
            .await
            .map_err(|e| self.op_error(key, "delete", e))
    }

    /// Watches keys matching `pattern` (`*` and `>` wildcards allowed): the
    /// stream yields every change from now on, decoded.
    pub async fn watch(&self, pattern: &str) -> Result<TypedWatch<T>, JetStreamError>
    where
        T: Send + 'static,
    {
        let watch = self
            .store
            .watch(pattern)
            .await
            .map_err(|e| self.op_error(pattern, "watch", e))?;
        Ok(decode_watch(self.clone(), pattern.to_owned(), watch))
    }

    fn encode(&self, key: &str, value: &T) -> Result<bytes::Bytes, JetStreamError> {
        serde_json::to_vec(value)
            .map(Into::into)
            .map_err(|e| JetStreamError::KvEncode {
                bucket: self.store.name.clone(),
                key: key.to_owned(),
                reason: e.to_string(),
            })
    }

    fn decode(&self, entry: kv::Entry) -> Result<TypedEntry<T>, JetStreamError> {
        let operation = KvOperation::from(entry.operation);
        let value = match operation {
            KvOperation::Put => Some(serde_json::from_slice(&entry.value).map_err(|e| {
                JetStreamError::KvDecode {
                    bucket: self.store.name.clone(),
                    key: entry.key.clone(),
                    revision: entry.revision,
                    type_name: std::any::type_name::<T>(),
                    reason: e.to_string(),
                }
            })?),
            KvOperation::Delete | KvOperation::Purge => None,
        };
        Ok(TypedEntry {
            key: entry.key,
            revision: entry.revision,
            operation,
            value,
        })
    }

    fn op_error(
        &self,
        key: &str,
        operation: &'static str,
        e: impl std::fmt::Display,
    ) -> JetStreamError {
        JetStreamError::KvOperation {
            bucket: self.store.name.clone(),
            key: key.to_owned(),
            operation,
            reason: e.to_string(),
        }
    }
}

fn decode_watch<T>(kv: TypedKv<T>, pattern: String, watch: kv::Watch) -> TypedWatch<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let inner = watch
        .map(move |item| match item {
            Ok(entry) => kv.decode(entry),
            Err(e) => Err(kv.op_error(&pattern, "watch", e)),
        })
        .boxed();
    TypedWatch { inner }
}

/// The changes of a [`TypedKv::watch`], decoded.
pub struct TypedWatch<T> {
    inner: BoxStream<'static, Result<TypedEntry<T>, JetStreamError>>,
}

impl<T> std::fmt::Debug for TypedWatch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedWatch").finish_non_exhaustive()
    }
}

impl<T> Stream for TypedWatch<T> {
    type Item = Result<TypedEntry<T>, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_validation_names_the_field() {
        let cases = [
            (KvSpec::new(""), "bucket"),
            (KvSpec::new("a.b"), "bucket"),
            (
                KvSpec {
                    history: 0,
                    ..KvSpec::new("b")
                },
                "history",
            ),
            (
                KvSpec {
                    history: 65,
                    ..KvSpec::new("b")
                },
                "history",
            ),
            (
                KvSpec {
                    replicas: 0,
                    ..KvSpec::new("b")
                },
                "replicas",
            ),
            (
                KvSpec {
                    max_bytes: Some(0),
                    ..KvSpec::new("b")
                },
                "max_bytes",
            ),
            (
                KvSpec {
                    max_value_size: Some(-1),
                    ..KvSpec::new("b")
                },
                "max_value_size",
            ),
        ];
        for (spec, field) in cases {
            match spec.validate() {
                Err(JetStreamError::InvalidSpec { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(KvSpec::new("sessions_v2-a").validate().is_ok());
    }

    #[test]
    fn config_mapping() {
        let c = KvSpec {
            ttl: Some(Duration::from_secs(60)),
            storage: StorageKind::Memory,
            history: 5,
            ..KvSpec::new("b")
        }
        .to_config();
        assert_eq!(c.bucket, "b");
        assert_eq!(c.history, 5);
        assert_eq!(c.max_age, Duration::from_secs(60));
        assert_eq!(c.storage, StorageType::Memory);
        assert_eq!(c.max_bytes, -1);
        assert_eq!(c.max_value_size, -1);
        assert_eq!(c.num_replicas, 1);
    }
}
