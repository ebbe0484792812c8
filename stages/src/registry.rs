//! The dataset registry: every dataset of YourMT3's install menu with its archive URL, md5,
//! restricted flag and folder. It is data (`registry.toml`, bundled into the binary); a
//! registry file given with `--registry` replaces entries by name or adds new ones, so that a
//! mirror, a private copy or a test server can stand in for Zenodo.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::validate_name;

/// The bundled registry (YourMT3's 15 datasets).
pub const BUNDLED: &str = include_str!("registry.toml");

/// Where to ask for access to the restricted datasets.
pub const TOKEN_REQUEST_URL: &str = "https://zenodo.org/records/10016397";

/// What installing a dataset means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Download, verify, extract, then the later stages.
    #[default]
    Archive,
    /// Download, verify and extract only (YourMT3 does not preprocess it).
    DownloadOnly,
    /// Nothing to download: made from other data.
    Generated,
    /// Private data: the user puts the folder in place and installs with `--nodown`.
    NotDownloadable,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Archive => "archive",
            Kind::DownloadOnly => "download_only",
            Kind::Generated => "generated",
            Kind::NotDownloadable => "not_downloadable",
        }
    }

    /// Whether the dataset comes from an archive at a URL.
    pub fn downloads(self) -> bool {
        matches!(self, Kind::Archive | Kind::DownloadOnly)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub number: u32,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub restricted: bool,
    /// The folder under the data home that the archive unpacks to.
    pub folder: String,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default)]
    pub note: Option<String>,
    /// The dataset adapter that reads it (`amt_stages::adapters::NAMES`); none for datasets
    /// amt has no adapter for yet.
    #[serde(default)]
    pub adapter: Option<String>,
}

impl Entry {
    pub fn title(&self) -> &str {
        if self.title.is_empty() {
            &self.name
        } else {
            &self.title
        }
    }

    /// (url, md5) when the dataset is downloadable.
    pub fn archive(&self) -> Option<(&str, &str)> {
        if !self.kind.downloads() {
            return None;
        }
        Some((self.url.as_deref()?, self.md5.as_deref()?))
    }

    fn validate(&self) -> Result<(), String> {
        let who = format!("registry entry `{}`", self.name);
        validate_name(&self.name)?;
        validate_name(&self.folder).map_err(|e| format!("{who}: folder: {e}"))?;
        if self.number == 0 {
            return Err(format!("{who}: number must be 1 or more"));
        }
        if self.kind.downloads() {
            let url = self
                .url
                .as_deref()
                .ok_or_else(|| format!("{who}: kind `{}` needs a url", self.kind.as_str()))?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("{who}: url `{url}` is not http(s)"));
            }
            let md5 = self
                .md5
                .as_deref()
                .ok_or_else(|| format!("{who}: kind `{}` needs an md5", self.kind.as_str()))?;
            if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{who}: md5 `{md5}` is not 32 hex digits"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    dataset: Vec<Entry>,
}

/// The datasets `amt install` knows, sorted by menu number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// YourMT3's datasets.
    pub fn bundled() -> Registry {
        Registry::parse(BUNDLED, "the bundled registry").expect("the bundled registry is valid")
    }

    /// Parses a registry TOML (`[[dataset]]` tables); `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Registry, String> {
        let file: RegistryFile =
            toml::from_str(text).map_err(|e| format!("{origin} is not a valid registry: {e}"))?;
        let mut reg = Registry {
            entries: Vec::new(),
        };
        for e in file.dataset {
            e.validate().map_err(|m| format!("{origin}: {m}"))?;
            if reg.entries.iter().any(|x| x.name == e.name) {
                return Err(format!("{origin}: dataset `{}` appears twice", e.name));
            }
            reg.entries.push(e);
        }
        reg.check_numbers().map_err(|m| format!("{origin}: {m}"))?;
        reg.entries.sort_by_key(|e| e.number);
        Ok(reg)
    }

    /// Reads a registry file.
    pub fn read(path: &Path) -> Result<Registry, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the registry file `{}`: {e}", path.display()))?;
        Registry::parse(&text, &format!("`{}`", path.display()))
    }

    /// The bundled registry with `path`'s entries replacing (by name) or added.
    pub fn with_overrides(path: Option<&Path>) -> Result<Registry, String> {
        let mut reg = Registry::bundled();
        if let Some(p) = path {
            reg.overlay(Registry::read(p)?)
                .map_err(|m| format!("`{}`: {m}", p.display()))?;
        }
        Ok(reg)
    }

    /// Replaces entries of the same name, adds the others.
    pub fn overlay(&mut self, other: Registry) -> Result<(), String> {
        for e in other.entries {
            match self.entries.iter_mut().find(|x| x.name == e.name) {
                Some(slot) => *slot = e,
                None => self.entries.push(e),
            }
        }
        self.check_numbers()?;
        self.entries.sort_by_key(|e| e.number);
        Ok(())
    }

    fn check_numbers(&self) -> Result<(), String> {
        for (i, a) in self.entries.iter().enumerate() {
            if let Some(b) = self.entries[i + 1..].iter().find(|b| b.number == a.number) {
                return Err(format!(
                    "datasets `{}` and `{}` both have number {}",
                    a.name, b.name, a.number
                ));
            }
        }
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// An entry by name (case-insensitive) or menu number.
    pub fn find(&self, item: &str) -> Option<&Entry> {
        let item = item.trim();
        if let Ok(n) = item.parse::<u32>() {
            return self.entries.iter().find(|e| e.number == n);
        }
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(item))
    }

    /// The highest menu number in use.
    pub fn max_number(&self) -> u32 {
        self.entries.iter().map(|e| e.number).max().unwrap_or(0)
    }
}

/// The file name an archive is saved under: the last URL path component, query dropped,
/// reduced to a safe alphabet.
pub fn archive_file_name(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    let last = no_query.rsplit('/').next().unwrap_or("");
    let safe: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.').to_string();
    if safe.is_empty() {
        "archive".to_string()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every adapter the registry names exists, and the datasets without one are those amt has
    /// no adapter for yet.
    #[test]
    fn registry_adapters_exist() {
        let r = Registry::bundled();
        let mut without = Vec::new();
        for e in r.entries() {
            match &e.adapter {
                Some(a) => assert!(crate::adapters::by_name(a).is_some(), "{}: {a}", e.name),
                None => without.push(e.name.as_str()),
            }
        }
        assert_eq!(without, ["mir1k", "random_nsynth"]);
    }

    #[test]
    fn bundled_has_the_fifteen_menu_datasets() {
        let r = Registry::bundled();
        assert_eq!(r.entries().len(), 15);
        let numbers: Vec<u32> = r.entries().iter().map(|e| e.number).collect();
        assert_eq!(numbers, (1..=15).collect::<Vec<_>>());
        assert_eq!(r.find("1").unwrap().name, "slakh");
        assert_eq!(r.find("MAESTRO").unwrap().number, 4);
        let restricted: Vec<&str> = r
            .entries()
            .iter()
            .filter(|e| e.restricted)
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(restricted, ["mir_st500", "cmedia", "rwc_pop"]);
        assert_eq!(r.get("geerdes").unwrap().kind, Kind::NotDownloadable);
        assert_eq!(r.get("random_nsynth").unwrap().kind, Kind::Generated);
        assert_eq!(r.get("mir1k").unwrap().kind, Kind::DownloadOnly);
        assert_eq!(
            r.get("egmd").unwrap().archive().unwrap().1,
            "4f615157ea4c52a64c6c9dcf68bf2bde"
        );
    }

    #[test]
    fn overlay_replaces_and_adds() {
        let mut r = Registry::bundled();
        let over = Registry::parse(
            r#"
[[dataset]]
name = "maestro"
number = 4
url = "http://127.0.0.1:1/m.tar.gz"
md5 = "00000000000000000000000000000000"
folder = "maestro_local"

[[dataset]]
name = "tiny"
number = 40
url = "http://127.0.0.1:1/t.zip"
md5 = "11111111111111111111111111111111"
folder = "tiny"
"#,
            "test",
        )
        .unwrap();
        r.overlay(over).unwrap();
        assert_eq!(r.entries().len(), 16);
        assert_eq!(r.get("maestro").unwrap().folder, "maestro_local");
        assert_eq!(r.find("40").unwrap().name, "tiny");
        assert_eq!(r.max_number(), 40);
    }

    #[test]
    fn bad_entries_are_named() {
        let bad_md5 = "[[dataset]]\nname = \"x\"\nnumber = 30\nurl = \"https://a/b\"\nmd5 = \"zz\"\nfolder = \"x\"\n";
        assert!(Registry::parse(bad_md5, "f").unwrap_err().contains("md5"));
        let bad_folder =
            "[[dataset]]\nname = \"x\"\nnumber = 30\nkind = \"generated\"\nfolder = \"../up\"\n";
        assert!(
            Registry::parse(bad_folder, "f")
                .unwrap_err()
                .contains("folder")
        );
        let clash = "[[dataset]]\nname = \"x\"\nnumber = 4\nkind = \"generated\"\nfolder = \"x\"\n";
        let mut r = Registry::bundled();
        let err = r.overlay(Registry::parse(clash, "f").unwrap()).unwrap_err();
        assert!(err.contains("number 4"), "{err}");
    }

    #[test]
    fn file_names_from_urls() {
        assert_eq!(
            archive_file_name(
                "https://zenodo.org/record/7852176/files/maestro_yourmt3_16k.tar.gz?download=1"
            ),
            "maestro_yourmt3_16k.tar.gz"
        );
        assert_eq!(archive_file_name("http://h/"), "archive");
        assert_eq!(archive_file_name("http://h/..%2f"), "_2f");
    }
}
