//! The dataset descriptor (`datasets/pascal_mt.toml`): expected layout, split sizes, class
//! lists and sources, as data. `verify` checks a root against it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{PascalError, Result};

/// A dataset descriptor (`datasets/<name>.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetDescriptor {
    /// Dataset name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Task names, in the reference order.
    pub tasks: Vec<String>,
    /// Expected layout under the root.
    pub layout: Layout,
    /// Number of ids per split in the real dataset.
    pub splits: BTreeMap<String, usize>,
    /// Class names of the segmentation tasks.
    pub classes: BTreeMap<String, Vec<String>>,
    /// Where the data can be obtained, with the last known status.
    pub sources: Vec<Source>,
    /// What `verify` checks, in words.
    pub verify: VerifyDoc,
}

/// Expected folders and split files.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Directories that must exist under the root.
    pub directories: Vec<String>,
    /// Split file path pattern (`{split}` is replaced).
    pub split_files: String,
}

/// A download source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// URL or description of the location.
    pub url: String,
    /// What it holds.
    pub what: String,
    /// Last known status.
    pub status: String,
}

/// The documented checks of `verify`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyDoc {
    /// One line per check.
    pub checks: Vec<String>,
}

impl DatasetDescriptor {
    /// Parse a descriptor (`what` names it in errors).
    pub fn from_toml_str(what: &str, text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| PascalError::Invalid(format!("{what}: {e}")))
    }
}

/// The PASCAL_MT descriptor (`datasets/pascal_mt.toml`, embedded at build time).
pub fn pascal_mt() -> &'static DatasetDescriptor {
    static D: OnceLock<DatasetDescriptor> = OnceLock::new();
    D.get_or_init(|| {
        DatasetDescriptor::from_toml_str(
            "datasets/pascal_mt.toml",
            include_str!("../../../datasets/pascal_mt.toml"),
        )
        .expect("the embedded descriptor parses (tested)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::VOC_CLASSES;
    use crate::layout::SPLITS;
    use crate::Task;

    #[test]
    fn the_pascal_descriptor_agrees_with_the_reader() {
        let d = pascal_mt();
        assert_eq!(d.name, "PASCAL_MT");
        let names: Vec<&str> = Task::PASCAL.iter().map(|t| t.name()).collect();
        assert_eq!(d.tasks, names);
        // dataset.md: 4,998 train / 5,105 val; the reader's splits
        assert_eq!(d.splits.get("train"), Some(&4998));
        assert_eq!(d.splits.get("val"), Some(&5105));
        assert_eq!(
            d.splits.keys().map(String::as_str).collect::<Vec<_>>(),
            SPLITS
        );
        assert_eq!(d.classes["semseg"], VOC_CLASSES);
        assert_eq!(d.classes["human_parts"].len(), 7);
        assert_eq!(
            d.layout.split_files.replace("{split}", "val"),
            "ImageSets/Context/val.txt"
        );
        assert!(!d.sources.is_empty() && !d.verify.checks.is_empty());
    }

    #[test]
    fn a_descriptor_with_an_unknown_or_missing_field_is_a_named_error() {
        let text = include_str!("../../../datasets/pascal_mt.toml");
        let e = DatasetDescriptor::from_toml_str("x.toml", &format!("{text}\nextra = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("extra"), "{e}");
        let e = DatasetDescriptor::from_toml_str("y.toml", &text.replace("[splits]", "[splitz]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.toml"), "{e}");
    }
}
