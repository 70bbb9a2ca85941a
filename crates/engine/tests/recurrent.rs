//! The recurrent layers against tf-keras: each case in `tests/rnn/` is a tiny model saved by
//! tf-keras itself (`test-models/generate_rnn_layers.py`), with a seeded input and the output
//! tf-keras computed for it; the engine reads tf-keras's own .h5 and must reproduce it.

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::read_npy;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rnn")
}

fn run_case(case: &str) -> f32 {
    let dir = cases_dir();
    let model = tf2h5_keras::h5::read_file(&dir.join(format!("{case}.h5"))).unwrap();
    let x: ArrayD<f32> = read_npy(dir.join(format!("{case}.x.npy"))).unwrap();
    let want: ArrayD<f32> = read_npy(dir.join(format!("{case}.y.npy"))).unwrap();
    let got = tf2h5_engine::run(&model, &[x]).unwrap().remove(0);
    assert_eq!(got.shape(), want.shape(), "{case}");
    got.iter().zip(want.iter()).fold(0f32, |worst, (a, b)| worst.max((a - b).abs()))
}

#[test]
fn every_reference_case_matches_tf_keras() {
    let mut cases: Vec<String> = std::fs::read_dir(cases_dir())
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().to_str()?.strip_suffix(".h5").map(str::to_string))
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "found only {cases:?}");
    for case in &cases {
        let error = run_case(case);
        println!("{case}: max abs error {error:e}");
        assert!(error <= 2e-6, "{case}: max abs error {error} vs tf-keras");
    }
}
