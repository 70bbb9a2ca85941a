//! Finding the models below a zoo folder, and choosing one shard of them.
//!
//! A model is a `.pb` file, an `.onnx` file, a SavedModel directory (one holding
//! `saved_model.pb`, whose other files are not searched), or a folder with a `meta.json`
//! (the `test-models/` layout, which also names the model's own input files). Each is named
//! by its path relative to the zoo folder, `/`-separated on every platform, so the names and
//! the shards they fall in are the same on every machine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// One model found in the zoo.
pub(super) struct ZooModel {
    /// Path relative to the zoo folder, `/`-separated.
    pub name: String,
    pub path: PathBuf,
    /// `--input NAME=FILE` arguments from meta.json: the model's own input data (e.g. pixels
    /// in 0..255 for models with built-in preprocessing), rather than N(0, 1) noise.
    pub inputs: Vec<String>,
    /// meta.json's `format` (e.g. "Keras 3 export"), else what the path says.
    pub format: String,
    pub bytes: u64,
    /// Why this entry cannot be verified at all (an unreadable folder, a broken meta.json).
    pub problem: Option<String>,
}

impl ZooModel {
    /// The name as one file name (for the `.h5` and the per-model reports): folders become `__`.
    pub fn file_stem(&self) -> String {
        file_stem(&self.name)
    }

    /// Weights are held a few times over (graph, Keras model, h5 image, read-back) plus
    /// activations: a conservative 6× the model's bytes, at least 256 MiB.
    pub fn estimated_bytes(&self) -> u64 {
        (self.bytes * 6).max(256 << 20)
    }
}

/// The file-name form of a model name.
pub(super) fn file_stem(name: &str) -> String {
    name.replace('/', "__")
}

/// Shard `index` (1-based) of `count`: models are taken in turn in the order of their names,
/// so every shard gets its share and the shards together hold every model exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.split_once('/').and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index >= 1 && index <= count => Ok(Shard { index, count }),
            _ => Err(format!("'{text}' is not K/N with 1 <= K <= N (e.g. 2/8)")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Keeps this shard's models out of `models` (sorted by name).
    pub(super) fn select(self, models: Vec<ZooModel>) -> Vec<ZooModel> {
        models.into_iter().enumerate().filter(|(i, _)| i % self.count == self.index - 1).map(|(_, m)| m).collect()
    }
}

/// Every model below `dir`, sorted by name.
pub(super) fn discover(dir: &Path) -> Result<Vec<ZooModel>> {
    anyhow::ensure!(dir.is_dir(), "'{}' is not a folder", dir.display());
    let mut models = Vec::new();
    if let Some(model) = model_folder(dir, dir) {
        models.push(model);
    } else {
        let entries = sorted_entries(dir).with_context(|| format!("reading '{}'", dir.display()))?;
        walk(dir, entries, &mut models);
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

fn walk(root: &Path, entries: Vec<PathBuf>, models: &mut Vec<ZooModel>) {
    for path in entries {
        // Hidden files and folders (.git, editors' files) are not models.
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let Ok(file_type) = std::fs::symlink_metadata(&path).map(|m| m.file_type()) else { continue };
        // Symlinked folders are not followed: they could loop.
        if file_type.is_dir() {
            if let Some(model) = model_folder(root, &path) {
                models.push(model);
                continue;
            }
            match sorted_entries(&path) {
                Ok(entries) => walk(root, entries, models),
                Err(error) => models.push(ZooModel {
                    problem: Some(format!("reading '{}': {error}", path.display())),
                    ..model_at(root, &path, "folder")
                }),
            }
        } else if let Some(format) = model_file_format(&path) {
            models.push(model_at(root, &path, format));
        }
    }
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

fn model_file_format(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()? {
        "pb" => Some("frozen .pb"),
        "onnx" => Some("ONNX"),
        _ => None,
    }
}

/// A folder that is one model: with a meta.json, or a SavedModel.
fn model_folder(root: &Path, dir: &Path) -> Option<ZooModel> {
    let meta_path = dir.join("meta.json");
    if meta_path.is_file() {
        let mut model = model_at(root, dir, "");
        match read_meta(dir, &meta_path) {
            Ok((path, inputs, format)) => {
                model.bytes = size_of_path(&path);
                model.format = format;
                model.path = path;
                model.inputs = inputs;
            }
            Err(error) => model.problem = Some(format!("{error:#}")),
        }
        return Some(model);
    }
    dir.join("saved_model.pb").is_file().then(|| model_at(root, dir, "SavedModel"))
}

fn model_at(root: &Path, path: &Path, format: &str) -> ZooModel {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let mut name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    if name.is_empty() {
        name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    }
    ZooModel {
        name,
        path: path.to_path_buf(),
        inputs: vec![],
        format: format.into(),
        bytes: size_of_path(path),
        problem: None,
    }
}

/// meta.json's model path, `--input` arguments and format.
fn read_meta(dir: &Path, meta_path: &Path) -> Result<(PathBuf, Vec<String>, String)> {
    let text = std::fs::read_to_string(meta_path).with_context(|| format!("reading '{}'", meta_path.display()))?;
    let meta: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", meta_path.display()))?;
    let model_file = meta["model"].as_str().with_context(|| format!("{}: no \"model\"", meta_path.display()))?;
    let model = dir.join(model_file);
    let inputs = meta["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|input| {
            Some(format!("{}={}", input["name"].as_str()?, dir.join(input["file"].as_str()?).display()))
        })
        .collect();
    let format = match meta["format"].as_str() {
        Some(format) => format.to_string(),
        None => model_file_format(&model).unwrap_or("SavedModel").to_string(),
    };
    Ok((model, inputs, format))
}

fn size_of_path(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| size_of_path(&e.path())).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_raw_models_saved_models_and_meta_folders_by_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for folder in ["a/b", "sm/variables", "fixture", ".git", "empty"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        for file in ["a/b/m.pb", "a/x.onnx", "a/notes.txt", "sm/saved_model.pb", "sm/fingerprint.pb", ".git/x.pb"] {
            std::fs::write(root.join(file), b"bytes").unwrap();
        }
        std::fs::write(
            root.join("fixture/meta.json"),
            r#"{"model": "frozen.pb", "inputs": [{"name": "x", "file": "x.npy"}]}"#,
        )
        .unwrap();
        std::fs::write(root.join("fixture/frozen.pb"), b"bytes").unwrap();
        let models = discover(root).unwrap();
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a/b/m.pb", "a/x.onnx", "fixture", "sm"]);
        assert_eq!(models[0].file_stem(), "a__b__m.pb");
        assert_eq!(models[1].format, "ONNX");
        assert_eq!(models[2].path, root.join("fixture/frozen.pb"));
        assert_eq!(models[2].inputs, [format!("x={}", root.join("fixture/x.npy").display())]);
        assert_eq!(models[3].format, "SavedModel");
        assert!(models.iter().all(|m| m.problem.is_none()));

        std::fs::write(root.join("fixture/meta.json"), "{").unwrap();
        let broken = discover(root).unwrap();
        assert!(broken[2].problem.as_deref().unwrap().contains("meta.json: not JSON"), "{:?}", broken[2].problem);
    }

    #[test]
    fn shards_partition_the_models() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..7 {
            std::fs::write(dir.path().join(format!("m{i}.onnx")), b"").unwrap();
        }
        let all: Vec<String> = discover(dir.path()).unwrap().into_iter().map(|m| m.name).collect();
        let mut seen = vec![];
        for index in 1..=3 {
            let shard = Shard { index, count: 3 };
            let names: Vec<String> = shard.select(discover(dir.path()).unwrap()).into_iter().map(|m| m.name).collect();
            assert!((2..=3).contains(&names.len()), "{names:?}");
            seen.extend(names);
        }
        seen.sort();
        assert_eq!(seen, all);
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
