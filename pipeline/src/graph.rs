//! The stage graph: download -> extract -> notes -> stem -> split -> shards -> train.
//! Only built stages are registered; a stage that is not built yet is absent, never a stub.

use std::sync::Arc;

use amt_stages::Stage;

/// Every stage of the design, in order; used to tell "not built yet" from "no such stage".
pub const PLANNED: &[&str] = &[
    "download", "extract", "notes", "stem", "split", "shards", "train",
];

#[derive(Clone)]
pub struct Graph {
    stages: Vec<Arc<dyn Stage>>,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("stage `{0}` is part of the design but not built yet (built: {1})")]
    NotBuilt(String, String),
    #[error("unknown stage `{0}` (stages: {1})")]
    Unknown(String, String),
    #[error("stage `{stage}` reads `{upstream}`, which is not registered before it")]
    BadOrder { stage: String, upstream: String },
}

impl Graph {
    /// The product graph.
    pub fn product() -> Graph {
        Graph::new(
            amt_stages::product_stages()
                .into_iter()
                .map(Arc::from)
                .collect(),
        )
    }

    /// A graph of the given stages in dependency order (tests register their own).
    pub fn new(stages: Vec<Arc<dyn Stage>>) -> Graph {
        Graph { stages }
    }

    pub fn stages(&self) -> &[Arc<dyn Stage>] {
        &self.stages
    }

    pub fn names(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    pub fn get(&self, name: &str) -> Result<&Arc<dyn Stage>, GraphError> {
        if let Some(s) = self.stages.iter().find(|s| s.name() == name) {
            return Ok(s);
        }
        let built = self.names().join(", ");
        if PLANNED.contains(&name) {
            Err(GraphError::NotBuilt(name.to_string(), built))
        } else {
            Err(GraphError::Unknown(name.to_string(), built))
        }
    }

    /// The stages up to and including `until` (all when `None`).
    pub fn until(&self, until: Option<&str>) -> Result<Vec<Arc<dyn Stage>>, GraphError> {
        let Some(name) = until else {
            return Ok(self.stages.clone());
        };
        self.get(name)?;
        let end = self
            .stages
            .iter()
            .position(|s| s.name() == name)
            .expect("found above");
        Ok(self.stages[..=end].to_vec())
    }

    /// `name` and the stages it needs, transitively, for one dataset, in graph order.
    pub fn with_ancestors(
        &self,
        name: &str,
        dataset: &amt_stages::DatasetSpec,
    ) -> Result<Vec<Arc<dyn Stage>>, GraphError> {
        let mut needed = std::collections::BTreeSet::from([name.to_string()]);
        for s in self.stages.iter().rev() {
            if needed.contains(s.name()) {
                for u in s.upstream(dataset) {
                    self.get(&u)?;
                    needed.insert(u);
                }
            }
        }
        Ok(self
            .stages
            .iter()
            .filter(|s| needed.contains(s.name()))
            .cloned()
            .collect())
    }
}
