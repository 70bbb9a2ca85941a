//! Shared helpers for the tf crate's integration tests: fixture paths, meta.json, temp dirs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The SavedModel fixtures (each `test-models/<case>/saved_model/`).
pub const SAVED_MODEL_CASES: [&str; 5] =
    ["sm_tf_module_cnn", "sm_tf_module_mobile", "sm_tf_keras_two_io", "sm_tf1_simple_save", "sm_keras3_export"];

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models")
}

pub fn case(name: &str) -> PathBuf {
    fixtures().join(name)
}

pub fn meta(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(case(name).join("meta.json")).expect("meta.json");
    serde_json::from_str(&text).expect("meta.json parses")
}

/// `(name, file)` of the meta.json `inputs` or `outputs`.
pub fn endpoints(meta: &serde_json::Value, which: &str) -> Vec<(String, String)> {
    meta[which]
        .as_array()
        .expect("endpoint list")
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["file"].as_str().unwrap().to_string()))
        .collect()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tf2h5-tf-tests-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A small deterministic PRNG (xorshift64*), to flip bytes reproducibly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
