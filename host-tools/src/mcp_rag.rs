//! The `rag_query` tool of `kingly mcp`: a thin adapter over the RAG index.

use anyhow::Result;
use serde_json::Value;
use std::path::Path;

/// Runs a query against the index in `index_dir`; results as JSON.
pub fn query(index_dir: &Path, text: &str, k: usize) -> Result<Value> {
    let hits = crate::rag::query(index_dir, text, k)?;
    Ok(serde_json::to_value(hits)?)
}
