//! A deliberately broken conversion must be caught, and the per-layer comparison must name
//! the broken layer and its TF node as the first divergence.

use std::path::Path;

use serde_json::json;

fn inception() -> (std::path::PathBuf, tf2h5_tf::TfGraph, tf2h5_convert::Conversion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models/inception_block");
    let graph = tf2h5_tf::load(&path).unwrap();
    let conversion = tf2h5_convert::convert(&graph, &Default::default()).unwrap();
    (path, graph, conversion)
}

#[test]
fn wrong_batchnorm_epsilon_is_localised_to_its_layer() {
    let (path, graph, mut conversion) = inception();
    // The third BatchNormalization in topological order, given Keras's default epsilon.
    let broken = conversion.model.layers.iter_mut().filter(|l| l.class_name == "BatchNormalization").nth(2).unwrap();
    broken.config.insert("epsilon".into(), json!(0.1));
    let broken_name = broken.name.clone();
    let fused_batch_norms: Vec<String> =
        graph.nodes().iter().filter(|n| n.op.starts_with("FusedBatchNorm")).map(|n| n.name.clone()).collect();

    let outcome = tf2h5_verify::verify_conversion(&path, graph, conversion, &Default::default(), vec![]).unwrap();
    let report = outcome.report;
    assert!(!report.passed, "a wrong epsilon must fail verification");
    let first = report.first_divergence.expect("localisation must name a layer");
    assert_eq!(first.layer, broken_name);
    assert!(fused_batch_norms.contains(&first.tf_node), "{first:?}");
    // Every layer before it matched.
    let layers = report.layer_comparison.unwrap().unwrap();
    let index = layers.iter().position(|d| d.layer == broken_name).unwrap();
    assert!(layers[..index].iter().all(|d| d.comparison.passed()));
}

#[test]
fn swapped_branch_weights_are_localised() {
    let (path, graph, mut conversion) = inception();
    // Two equal-shaped 1x1 convolutions of parallel branches: swapping their kernels keeps
    // every shape valid, exactly the weight-order bug the h5 writer must never make.
    let convs: Vec<usize> = conversion
        .model
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.class_name == "Conv2D" && l.weights[0].value.shape()[..2] == [1, 1])
        .map(|(i, _)| i)
        .collect();
    let (a, b) = convs
        .iter()
        .flat_map(|&a| convs.iter().map(move |&b| (a, b)))
        .find(|&(a, b)| {
            a < b
                && conversion.model.layers[a].weights[0].value.shape()
                    == conversion.model.layers[b].weights[0].value.shape()
        })
        .expect("two equal-shaped 1x1 convolutions");
    let kernel_a = conversion.model.layers[a].weights[0].value.clone();
    conversion.model.layers[a].weights[0].value = conversion.model.layers[b].weights[0].value.clone();
    conversion.model.layers[b].weights[0].value = kernel_a;
    let first_broken = conversion.model.layers[a].name.clone();

    let report = tf2h5_verify::verify_conversion(&path, graph, conversion, &Default::default(), vec![]).unwrap().report;
    assert!(!report.passed);
    assert_eq!(report.first_divergence.unwrap().layer, first_broken);
}
