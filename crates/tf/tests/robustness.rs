//! No input makes the loader panic: truncated and bit-flipped `saved_model.pb`,
//! `variables.index` and data files, and garbage.

mod common;

use common::{case, copy_dir, Rng, TempDir};

/// Loads `dir` after `mutate` rewrote `file` (relative to the SavedModel directory).
fn load_mutated(dir: &std::path::Path, file: &str, original: &[u8], bytes: &[u8]) -> Result<(), String> {
    std::fs::write(dir.join(file), bytes).unwrap();
    let result = tf2h5_tf::load(dir).map(|_| ()).map_err(|e| e.to_string());
    std::fs::write(dir.join(file), original).unwrap();
    result
}

fn stress(name: &str, file: &str, every_cut: bool, flips: usize, seed: u64) -> (usize, usize) {
    let tmp = TempDir::new(&format!("{name}-{}", file.replace('/', "_")));
    let dir = tmp.0.join("saved_model");
    copy_dir(&case(name).join("saved_model"), &dir);
    let original = std::fs::read(dir.join(file)).unwrap();
    let mut errors = 0;
    let mut runs = 0;
    // Cut points: every byte for small files; for large ones a stride plus the last bytes.
    let stride = if every_cut { 1 } else { (original.len() / 400).max(1) };
    let cuts = (0..original.len()).step_by(stride).chain(original.len().saturating_sub(64)..original.len());
    for cut in cuts {
        runs += 1;
        let result = load_mutated(&dir, file, &original, &original[..cut]);
        errors += result.is_err() as usize;
        if let Err(e) = result {
            assert_eq!(e.lines().count(), 1, "cut {cut}: {e}");
        }
    }
    let mut rng = Rng(seed);
    for _ in 0..flips {
        let mut bytes = original.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        runs += 1;
        errors += load_mutated(&dir, file, &original, &bytes).is_err() as usize;
    }
    // Garbage of assorted lengths.
    for len in [0, 1, 7, 48, 100, 4096] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        runs += 1;
        errors += load_mutated(&dir, file, &original, &bytes).is_err() as usize;
    }
    tf2h5_tf::load(&dir).expect("the untouched copy loads");
    (runs, errors)
}

#[test]
fn saved_model_pb_damage_never_panics() {
    let (runs, errors) = stress("sm_tf_module_cnn", "saved_model.pb", false, 300, 1);
    assert!(errors > runs / 2, "{errors} errors in {runs} runs");
    stress("sm_tf1_simple_save", "saved_model.pb", false, 200, 2);
}

#[test]
fn variables_index_damage_never_panics_and_is_caught() {
    // Every cut point of the index must be an error: the footer is at the end.
    let (runs, errors) = stress("sm_tf_module_cnn", "variables/variables.index", true, 0, 3);
    assert_eq!(runs - 6, errors - 6, "a truncated index loaded");
    stress("sm_tf_module_cnn", "variables/variables.index", false, 300, 4);
    // Multi-shard index with sliced variables.
    stress("sm_tf_keras_two_io", "variables/variables.index", true, 300, 5);
}

#[test]
fn data_file_damage_never_panics_and_flips_are_caught() {
    let (_, _) = stress("sm_tf_module_cnn", "variables/variables.data-00000-of-00001", false, 0, 6);
    // A flipped bit anywhere in a tensor the model uses fails its CRC32C: all bytes of this
    // checkpoint belong to used variables or to the object graph, which is read too.
    let tmp = TempDir::new("flips");
    let dir = tmp.0.join("saved_model");
    copy_dir(&case("sm_tf_module_cnn").join("saved_model"), &dir);
    let file = "variables/variables.data-00000-of-00001";
    let original = std::fs::read(dir.join(file)).unwrap();
    let mut rng = Rng(7);
    for _ in 0..200 {
        let mut bytes = original.clone();
        let at = rng.below(bytes.len());
        bytes[at] ^= 1 << rng.below(8);
        let err = load_mutated(&dir, file, &original, &bytes).expect_err("a flipped data byte loaded");
        assert!(err.contains("variables.data-00000-of-00001") && err.contains("CRC32C"), "{err}");
    }
}
