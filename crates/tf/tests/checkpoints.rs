//! The checkpoint reader on checkpoints TensorFlow wrote, and the refusal of broken copies.

mod common;

use common::{case, fixtures, SAVED_MODEL_CASES};
use ndarray::ArrayD;
use tf2h5_tf::Checkpoint;

fn probe(name: &str) -> (String, ArrayD<f32>, usize) {
    let text = std::fs::read_to_string(case(name).join("checkpoint_probe.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let value: ArrayD<f32> = ndarray_npy::read_npy(case(name).join(json["file"].as_str().unwrap())).unwrap();
    (json["key"].as_str().unwrap().to_string(), value, json["shards"].as_u64().unwrap() as usize)
}

#[test]
fn reads_the_values_tensorflow_wrote() {
    for name in SAVED_MODEL_CASES {
        let checkpoint = Checkpoint::open(&case(name).join("saved_model/variables/variables"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (key, expected, shards) = probe(name);
        assert_eq!(checkpoint.shard_paths().len(), shards, "{name}");
        let value = checkpoint.read_f32(&key).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(value, expected, "{name}: {key}");
        checkpoint.verify_all().unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every tensor the index lists reads back with a valid checksum, whole or in slices.
        for (key, entry) in checkpoint.entries() {
            let bytes = checkpoint.read_bytes(key).unwrap_or_else(|e| panic!("{name}: {e}"));
            if entry.dtype == tf2h5_tf::pb::DataType::DtFloat {
                assert_eq!(bytes.len(), entry.element_count().unwrap() * 4, "{name}: {key}");
            }
        }
    }
}

#[test]
fn reads_sliced_multi_shard_checkpoints() {
    // tf-keras saved with MaxShardSizePolicy: two data files, variables split in slices.
    let checkpoint = Checkpoint::open(&case("sm_tf_keras_two_io").join("saved_model/variables/variables")).unwrap();
    assert_eq!(checkpoint.shard_paths().len(), 2);
    let sliced: Vec<&str> = checkpoint.entries().filter(|(_, e)| !e.slices.is_empty()).map(|(k, _)| k).collect();
    assert!(!sliced.is_empty(), "the fixture should hold sliced variables");
    for key in sliced {
        let value = checkpoint.read_f32(key).unwrap();
        assert!(value.iter().all(|v| v.is_finite()));
    }
    let graph = checkpoint.read_strings("_CHECKPOINTABLE_OBJECT_GRAPH").unwrap();
    assert_eq!(graph.len(), 1);
}

fn refusal(dir: &str) -> String {
    let path = fixtures().join("corrupt").join(dir);
    let err = match tf2h5_tf::load(&path) {
        Ok(_) => panic!("{dir}: loaded a corrupt model"),
        Err(e) => e.to_string(),
    };
    assert_eq!(err.lines().count(), 1, "{dir}: {err}");
    err
}

#[test]
fn corrupt_copies_are_refused_naming_the_broken_file() {
    let err = refusal("flipped_data");
    assert!(
        err.contains("variables.data-00000-of-00001") && err.contains("CRC32C") && err.contains("conv2_kernel"),
        "{err}"
    );
    let err = refusal("truncated_index");
    assert!(err.contains("variables.index") && err.contains("truncated"), "{err}");
    let err = refusal("truncated_data");
    assert!(err.contains("variables.data-00000-of-00001") && err.contains("truncated"), "{err}");
    let err = refusal("missing_data");
    assert!(err.contains("variables.data-00000-of-00001") && err.contains("missing"), "{err}");
    let err = refusal("wrong_shard_count");
    assert!(
        err.contains("variables.data-00000-of-00001")
            && err.contains("variables.data-00000-of-00002")
            && err.contains("1 shard"),
        "{err}"
    );
    let err = refusal("truncated_saved_model_pb");
    assert!(err.contains("saved_model.pb") && err.contains("not a SavedModel"), "{err}");
}
