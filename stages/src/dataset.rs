//! A dataset as the stages see it: a name and the local folder that holds it.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSpec {
    /// The dataset's name: the `dataset` column of every table and part of the store layout.
    pub name: String,
    /// Its local folder (`<data home>/<name>` unless configured otherwise).
    pub folder: PathBuf,
}

/// Dataset names become folder names and SQL values: keep them to a safe alphabet.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid dataset name (use letters, digits, `_`, `-`, `.`; not starting with `.`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("slakh").is_ok());
        assert!(validate_name("maestro-v3.0").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("../etc").is_err());
        assert!(validate_name(".hidden").is_err());
        assert!(validate_name("a b").is_err());
    }
}
