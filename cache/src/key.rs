//! Artifact keys: blake3 over (stage, stage version, canonical config, input keys).
//! Same inputs and config give the same key on any machine; any change gives a new key.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, canonical};

/// Bumped only if the derivation itself changes (it would invalidate every artifact).
const DOMAIN: &str = "amt-artifact-key-v1";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Key(String);

impl Key {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl TryFrom<String> for Key {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Key(s))
        } else {
            Err(Error::BadKey(s))
        }
    }
}

impl From<Key> for String {
    fn from(k: Key) -> String {
        k.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a key depends on. `inputs` maps an input's name (an upstream stage, or an
/// external input such as `folder`) to its key or content digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySpec {
    pub stage: String,
    pub version: u32,
    pub config: Value,
    pub inputs: BTreeMap<String, String>,
}

impl KeySpec {
    pub fn key(&self) -> Key {
        let body = serde_json::json!({
            "stage": self.stage,
            "version": self.version,
            "config": self.config,
            "inputs": self.inputs,
        });
        let mut h = blake3::Hasher::new();
        h.update(DOMAIN.as_bytes());
        h.update(&[0]);
        h.update(canonical::to_string(&body).as_bytes());
        Key(h.finalize().to_hex().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> KeySpec {
        KeySpec {
            stage: "extract".into(),
            version: 1,
            config: json!({"a": 1, "b": {"c": [1, 2]}}),
            inputs: BTreeMap::from([("folder".to_string(), "abc".to_string())]),
        }
    }

    #[test]
    fn deterministic_and_sensitive_to_every_part() {
        let base = spec().key();
        assert_eq!(base, spec().key());
        let mut s = spec();
        s.stage = "notes".into();
        assert_ne!(s.key(), base);
        let mut s = spec();
        s.version = 2;
        assert_ne!(s.key(), base);
        let mut s = spec();
        s.config = json!({"a": 2, "b": {"c": [1, 2]}});
        assert_ne!(s.key(), base);
        let mut s = spec();
        s.inputs.insert("folder".into(), "abd".into());
        assert_ne!(s.key(), base);
    }

    #[test]
    fn config_key_order_is_irrelevant() {
        let mut s = spec();
        s.config = serde_json::from_str(r#"{"b": {"c": [1, 2]}, "a": 1}"#).unwrap();
        assert_eq!(s.key(), spec().key());
    }

    #[test]
    fn key_text_is_validated() {
        assert!(Key::try_from("xyz".to_string()).is_err());
        let k = spec().key();
        assert_eq!(Key::try_from(k.to_string()).unwrap(), k);
        assert_eq!(k.short().len(), 12);
    }
}
