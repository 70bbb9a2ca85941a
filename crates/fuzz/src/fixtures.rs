//! The fixtures to mutate: every `test-models/*/` directory with a `meta.json`, whatever its
//! model is (a frozen `.pb`, a SavedModel directory, ...), and every file in it.

use std::path::{Path, PathBuf};

/// One fixture directory.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Case name (the directory name).
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// The model, relative to `dir` (`meta.json`'s `model`): a file or a directory.
    pub model: PathBuf,
    /// Model inputs: TF name and `.npy` file relative to `dir`.
    pub inputs: Vec<(String, PathBuf)>,
}

impl Fixture {
    /// The model path to pass to tf2h5.
    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.model)
    }

    /// Every file of the fixture except `meta.json`, relative to `dir`, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        walk(&self.dir, &self.dir, &mut files);
        files.retain(|f| f != Path::new("meta.json"));
        files.sort();
        files
    }

    /// Whether `rel` (relative to `dir`) is part of the model.
    pub fn is_model_file(&self, rel: &Path) -> bool {
        rel.starts_with(&self.model)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if path.is_file() {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
}

/// Every fixture under `root` (directories holding a `meta.json`), sorted by name.
pub fn discover(root: &Path) -> Result<Vec<Fixture>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut fixtures = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let meta_path = dir.join("meta.json");
        if !meta_path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&meta_path).map_err(|e| format!("{}: {e}", meta_path.display()))?;
        let meta: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", meta_path.display()))?;
        let model = meta["model"].as_str().ok_or_else(|| format!("{}: no 'model'", meta_path.display()))?;
        let inputs = meta["inputs"]
            .as_array()
            .map(|inputs| {
                inputs
                    .iter()
                    .filter_map(|i| Some((i["name"].as_str()?.to_string(), PathBuf::from(i["file"].as_str()?))))
                    .collect()
            })
            .unwrap_or_default();
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        fixtures.push(Fixture { name, dir: dir.clone(), model: PathBuf::from(model.trim_end_matches('/')), inputs });
    }
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    if fixtures.is_empty() {
        return Err(format!("{}: no fixture directories with a meta.json", root.display()));
    }
    Ok(fixtures)
}

/// Copies `from` (a file or a directory) to `to`, hard-linking files where possible: tf2h5
/// never writes into its model, and links make per-trial copies of large checkpoints free.
pub fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            link_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ()))
    }
}
