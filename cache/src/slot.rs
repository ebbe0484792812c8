//! Slots: where a stage's artifacts live. A slot is a dataset (`slakh`), a variant of a
//! dataset (`slakh@melspec-128-mt3_full_plus`: the same stage built twice with different
//! settings, both kept), or a named cross-dataset slot (`+preset:all_cross_final`,
//! `+eval:run1`). The three forms cannot be confused: dataset names never hold `@` or `+`, so
//! an eval run or a preset is never listed as a dataset.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    Dataset(String),
    Variant { dataset: String, variant: String },
    Cross { kind: String, name: String },
}

/// Names inside a slot: letters, digits, `_`, `-`, `.`; not empty, not starting with `.`.
pub fn valid_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 120
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Slot {
    pub fn dataset(name: impl Into<String>) -> Slot {
        Slot::Dataset(name.into())
    }

    pub fn variant(dataset: impl Into<String>, variant: impl Into<String>) -> Slot {
        Slot::Variant {
            dataset: dataset.into(),
            variant: variant.into(),
        }
    }

    pub fn cross(kind: impl Into<String>, name: impl Into<String>) -> Slot {
        Slot::Cross {
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// Parses the folder name form (`slakh`, `slakh@v`, `+kind:name`).
    pub fn parse(s: &str) -> Result<Slot> {
        let bad = || Error::BadSlot(s.to_string());
        let slot = if let Some(rest) = s.strip_prefix('+') {
            let (kind, name) = rest.split_once(':').ok_or_else(bad)?;
            Slot::cross(kind, name)
        } else if let Some((dataset, variant)) = s.split_once('@') {
            Slot::variant(dataset, variant)
        } else {
            Slot::dataset(s)
        };
        slot.check().map_err(|_| bad())?;
        Ok(slot)
    }

    /// Every component is a valid name.
    pub fn check(&self) -> Result<()> {
        let ok = match self {
            Slot::Dataset(d) => valid_component(d),
            Slot::Variant { dataset, variant } => {
                valid_component(dataset) && valid_component(variant)
            }
            Slot::Cross { kind, name } => valid_component(kind) && valid_component(name),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::BadSlot(self.to_string()))
        }
    }

    /// The dataset whose data the slot holds (none for cross-dataset slots).
    pub fn dataset_name(&self) -> Option<&str> {
        match self {
            Slot::Dataset(d) | Slot::Variant { dataset: d, .. } => Some(d),
            Slot::Cross { .. } => None,
        }
    }

    pub fn is_dataset(&self) -> bool {
        matches!(self, Slot::Dataset(_))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Dataset(d) => write!(f, "{d}"),
            Slot::Variant { dataset, variant } => write!(f, "{dataset}@{variant}"),
            Slot::Cross { kind, name } => write!(f, "+{kind}:{name}"),
        }
    }
}

impl Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Slot, D::Error> {
        let s = String::deserialize(d)?;
        Slot::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_round_trip_and_never_mix() {
        for s in [
            "slakh",
            "slakh@melspec-128",
            "+eval:run1",
            "+preset:all_cross_final",
        ] {
            assert_eq!(Slot::parse(s).unwrap().to_string(), s);
        }
        assert!(Slot::parse("slakh").unwrap().is_dataset());
        assert!(!Slot::parse("slakh@v").unwrap().is_dataset());
        assert_eq!(
            Slot::parse("slakh@v").unwrap().dataset_name(),
            Some("slakh")
        );
        assert_eq!(Slot::parse("+eval:r").unwrap().dataset_name(), None);
        for bad in [
            "", ".hidden", "a/b", "+eval", "+:x", "a@", "a@b@c", "+k:n:m",
        ] {
            assert!(Slot::parse(bad).is_err(), "{bad}");
        }
    }
}
