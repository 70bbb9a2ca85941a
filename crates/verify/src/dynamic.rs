//! Unknown non-batch input dimensions (a time axis, an image's height and width): the sizes
//! verification proves the model at, and which dimensions the `.h5` keeps unknown.
//!
//! The converter works on static shapes, so the model is converted at concrete sizes. The
//! base sizes come from the `--input` data, else the first `--input-shape`, else the graph:
//! the smallest multiple of the strides and pools on the way (their product), from 4 up,
//! at which the model converts. Then each unknown dimension is converted once more at a
//! second size (a later `--input-shape`, else about twice the base), the others kept. A
//! dimension whose second conversion gives the same layers and weights stays `None` in the
//! Keras `Input`; one where they differ (a `Flatten` before a `Dense`, a fixed `Reshape`) is
//! fixed at its base size, with the reason. Verification then runs at every planned set of
//! shapes ([`Plan::runs`]): the base, every kept dimension at its second size, and with two
//! or more kept dimensions a mix of both (a height/width swap shows there).

use serde::Serialize;
use tf2h5_convert::{Conversion, ConvertError};
use tf2h5_keras::KerasModel;
use tf2h5_tf::{NodeExt, TfGraph};

use crate::{Options, VerifyError};

/// Smallest size tried for a dimension the graph leaves unknown: smaller ones hide layout
/// errors (a 1×1 map is its own transpose).
const MIN_DERIVED_SIZE: usize = 4;
/// Sizes tried for the base before giving up on a dimension.
const BASE_ATTEMPTS: usize = 12;
/// Bound on the stride product, so a deep strided graph is not verified at huge sizes.
const MAX_STRIDE_PRODUCT: usize = 64;

/// Concrete shapes (batch 1 first) by input name.
type Shapes = Vec<(String, Vec<usize>)>;

/// One shape per model input (conversion order), batch 1 first: one verification run.
pub type Run = Shapes;

/// Per graph input: its name and the shape the graph gives it (`None` = unknown).
type GraphShapes = Vec<(String, Vec<Option<usize>>)>;

/// What became of one unknown dimension of an input.
#[derive(Debug, Clone, Serialize)]
pub struct DynamicDim {
    /// The input (TF `Placeholder`).
    pub input: String,
    /// The axis (batch = 0).
    pub axis: usize,
    /// Sizes the model was verified at along this axis.
    pub sizes: Vec<usize>,
    /// Why the `.h5` fixes this dimension at its base size (`None`: it stays unknown).
    pub fixed: Option<String>,
}

/// How to convert and verify a model whose inputs have unknown dimensions (or pinned sizes).
pub struct Plan {
    /// The conversion at the base sizes, with the kept dimensions `None` in its `Input`s.
    pub conversion: Conversion,
    /// The shapes to verify at; the first is the base (where `--input` data runs).
    pub runs: Vec<Run>,
    /// Every unknown dimension, kept or fixed.
    pub dims: Vec<DynamicDim>,
}

/// The graph's inputs and their shapes (inputs of unknown rank are left to the converter).
fn graph_inputs(graph: &TfGraph) -> Result<GraphShapes, VerifyError> {
    let mut inputs = Vec::new();
    for node in graph.placeholders() {
        if let Some(shape) = node.attr_shape_opt("shape")? {
            inputs.push((node.name.clone(), shape));
        }
    }
    Ok(inputs)
}

/// The graph input a `--input` or `--input-shape` name means, and the given `shape` in the
/// graph's layout. A translated (ONNX) model's inputs are named and laid out as in the source
/// file (NCHW for most images, permuted to the graph's NHWC); the graph's own name works too.
fn graph_input(graph: &TfGraph, inputs: &GraphShapes, name: &str, shape: &[usize]) -> Option<(String, Vec<usize>)> {
    let source = |placeholder: &str| graph.translation.as_ref().and_then(|t| t.tensors.get(placeholder));
    let (placeholder, _) = inputs.iter().find(|(n, _)| n == name || source(n).is_some_and(|s| s.name == name))?;
    let shape = match source(placeholder).and_then(|s| s.permutation.as_ref()).filter(|p| p.len() == shape.len()) {
        // Graph axis j is source axis permutation[j].
        Some(permutation) => permutation.iter().map(|&axis| shape[axis]).collect(),
        None => shape.to_vec(),
    };
    Some((placeholder.clone(), shape))
}

/// `(1, 8, 8, 3)`.
fn show(shape: &[usize]) -> String {
    format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", "))
}

/// The product of the strides of every windowed op (convolutions, pools), bounded: sizes
/// divisible by it keep every feature map whole on the way down.
fn stride_product(graph: &TfGraph) -> usize {
    let mut product = 1usize;
    for node in graph.nodes() {
        if let Ok(Some(strides)) = node.attr_ints_opt("strides") {
            let step = strides.iter().skip(1).copied().max().unwrap_or(1).clamp(1, MAX_STRIDE_PRODUCT as i64);
            product = product.saturating_mul(step as usize).min(MAX_STRIDE_PRODUCT);
        }
    }
    product
}

/// Base size of an unknown dimension of a Keras `.h5` source, unless the data or
/// `--input-shape` give it (a stride-2 network still has a 1×1 map at 8 with `same` padding).
const KERAS_SOURCE_BASE: usize = 8;

/// The second size an unknown dimension is proven at, from its base `b`: b + b/2 + 1 (13 for
/// 8), large enough for any model that runs at `b`, and no multiple of it.
fn keras_source_second(base: usize) -> usize {
    base + base / 2 + 1
}

/// The runs that verify a Keras `.h5` source whose `inputs` (name, shape) may have unknown
/// non-batch dimensions. Nothing is converted (the source and the upgraded file both take any
/// size there), so every unknown dimension stays `None` and is proven at two sizes: the base
/// (from the `--input` data, else the first `--input-shape`, else 8) and, in a run of its own
/// with the others at their base, its second size (a later `--input-shape`, else
/// [`keras_source_second`] of the base).
pub fn keras_source_runs(inputs: &[(String, Vec<Option<usize>>)], options: &Options) -> Result<Vec<Run>, VerifyError> {
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    if let Some((name, _)) = options.input_shapes.iter().find(|(n, _)| !names.contains(&n.as_str())) {
        return Err(VerifyError::Input(format!(
            "--input-shape names '{name}', which is not a model input (inputs: {names:?})"
        )));
    }
    let mut base: Run = Vec::new();
    // (input, axis, second size) per unknown dimension.
    let mut seconds: Vec<(usize, usize, usize)> = Vec::new();
    for (index, (name, shape)) in inputs.iter().enumerate() {
        let pinned: Vec<Vec<Option<usize>>> = options
            .input_shapes
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, given)| tf2h5_convert::specialised_shape(shape, given))
            .collect::<Result<_, _>>()
            .map_err(|why| VerifyError::Input(format!("input '{name}': --input-shape {why}")))?;
        let data = options.inputs.iter().find(|(n, _)| n == name).map(|(_, a)| a.shape().to_vec());
        let mut first: Vec<usize> = match (data, pinned.first()) {
            (Some(data), _) => data,
            (None, Some(pin)) => pin.iter().map(|d| d.unwrap_or(1)).collect(),
            (None, None) => shape.iter().map(|d| d.unwrap_or(KERAS_SOURCE_BASE)).collect(),
        };
        if let Some(batch) = first.first_mut() {
            *batch = 1;
        }
        for axis in (1..shape.len()).filter(|&axis| shape[axis].is_none()) {
            let second = pinned.get(1).and_then(|pin| pin[axis]).unwrap_or_else(|| keras_source_second(first[axis]));
            seconds.push((index, axis, second));
        }
        base.push((name.clone(), first));
    }
    let variations = seconds.into_iter().map(|(index, axis, size)| {
        let mut run = base.clone();
        if let Some(dim) = run[index].1.get_mut(axis) {
            *dim = size;
        }
        run
    });
    Ok(std::iter::once(base.clone()).chain(variations).collect())
}

/// Plans the conversion and verification of a graph whose inputs have unknown non-batch
/// dimensions, or whose sizes the user pinned; `None` when neither is the case.
/// `convert` are the conversion options to use (`options.convert` with the model name set).
pub fn plan(graph: &TfGraph, options: &Options, convert: &tf2h5_convert::Options) -> Result<Option<Plan>, VerifyError> {
    let inputs = graph_inputs(graph)?;
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let mut pins: Shapes = Vec::new();
    for (name, given) in &options.input_shapes {
        let Some((placeholder, given)) = graph_input(graph, &inputs, name, given) else {
            return Err(VerifyError::Input(format!(
                "--input-shape names '{name}', which is not a model input (inputs: {names:?})"
            )));
        };
        let graph_shape = inputs.iter().find(|(n, _)| *n == placeholder).map(|(_, s)| s.as_slice()).unwrap_or_default();
        tf2h5_convert::specialised_shape(graph_shape, &given)
            .map_err(|why| VerifyError::Input(format!("input '{name}': --input-shape {why}")))?;
        pins.push((placeholder, given));
    }
    let unknown: Vec<(String, usize)> = inputs
        .iter()
        .flat_map(|(name, shape)| {
            shape.iter().enumerate().skip(1).filter(|(_, d)| d.is_none()).map(move |(axis, _)| (name.clone(), axis))
        })
        .collect();
    if unknown.is_empty() && pins.is_empty() {
        return Ok(None);
    }

    // Base sizes: from the data, else the first pin, else derived (searched below).
    let mut base: Shapes = Vec::new();
    let mut derived: Vec<(String, usize)> = Vec::new();
    for (name, shape) in &inputs {
        let data = options
            .inputs
            .iter()
            .filter_map(|(given, array)| graph_input(graph, &inputs, given, array.shape()))
            .find_map(|(placeholder, shape)| (placeholder == *name).then_some(shape));
        let pinned = pins.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone());
        let concrete = match data.or(pinned) {
            Some(mut given) if given.len() == shape.len() => {
                given[0] = 1;
                given
            }
            // A rank mismatch is reported with the data.
            _ => {
                derived.extend(unknown.iter().filter(|(n, _)| n == name).cloned());
                shape.iter().map(|d| d.unwrap_or(1)).collect()
            }
        };
        base.push((name.clone(), concrete));
    }
    let stride = stride_product(graph);
    let (conversion, base) = if derived.is_empty() {
        (convert_at(graph, convert, &base)?, base)
    } else {
        base_by_search(graph, convert, base, &derived, &candidates(stride))?
    };

    // Second sizes, and whether each dimension may stay unknown.
    let base_size = |name: &str, axis: usize| base.iter().find(|(n, _)| n == name).map_or(1, |(_, s)| s[axis]);
    let mut dims = Vec::new();
    for (name, axis) in &unknown {
        let at_base = base_size(name, *axis);
        let pinned_other = pins.iter().filter(|(n, _)| n == name).map(|(_, s)| s[*axis]).find(|&size| size != at_base);
        let second = pinned_other.unwrap_or_else(|| (2 * at_base).div_ceil(stride) * stride + stride);
        let mut shapes = base.clone();
        if let Some((_, shape)) = shapes.iter_mut().find(|(n, _)| n == name) {
            shape[*axis] = second;
        }
        let fixed = match convert_at(graph, convert, &shapes) {
            Ok(other) => first_difference(&conversion.model, &other.model)
                .map(|why| format!("the model differs at size {second}: {why}")),
            Err(error) => Some(format!("the model does not convert at size {second}: {error}")),
        };
        let sizes = if fixed.is_some() { vec![at_base] } else { vec![at_base, second] };
        dims.push(DynamicDim { input: name.clone(), axis: *axis, sizes, fixed });
    }
    let runs = runs(&conversion, &base, &dims, &pins)?;
    Ok(Some(Plan { conversion: keep_unknown(conversion, &dims), runs, dims }))
}

/// The unknown dimensions a translated (ONNX) graph's inputs lost at translation, because an
/// op needed their size ([`tf2h5_tf::Translation::fixed`]), as fixed dimensions of the
/// graph's inputs (its placeholder names and layout).
pub fn fixed_at_translation(graph: &TfGraph) -> Vec<DynamicDim> {
    let Some(translation) = &graph.translation else { return Vec::new() };
    translation
        .fixed
        .iter()
        .filter_map(|dim| {
            let (placeholder, source) = translation.tensors.iter().find(|(node, source)| {
                source.name == dim.input && graph.node(node).is_some_and(|n| n.op == "Placeholder")
            })?;
            // Graph axis j is source axis permutation[j].
            let axis = source.permutation.as_ref().map_or(Some(dim.axis), |p| p.iter().position(|&a| a == dim.axis))?;
            let why = format!(
                "the ONNX translation needs its size: {}; fixed at the size verification runs at (--input data or \
                 --input-shape choose it)",
                dim.reason
            );
            Some(DynamicDim { input: placeholder.clone(), axis, sizes: vec![dim.size], fixed: Some(why) })
        })
        .collect()
}

/// Base sizes to try, best first: multiples of the stride product from
/// [`MIN_DERIVED_SIZE`] up, then the smaller multiples (a graph may fix a size below it).
fn candidates(stride: usize) -> Vec<usize> {
    let first = MIN_DERIVED_SIZE.div_ceil(stride);
    let larger = (first..first + BASE_ATTEMPTS).map(|k| k * stride);
    larger.chain((1..first).map(|k| k * stride)).collect()
}

/// Converts at the first of `candidates` (for every derived dimension at once) at which the
/// model converts. A refusal that no size changes (an op without a mapping) is returned as is.
fn base_by_search(
    graph: &TfGraph,
    convert: &tf2h5_convert::Options,
    mut base: Shapes,
    derived: &[(String, usize)],
    candidates: &[usize],
) -> Result<(Conversion, Shapes), VerifyError> {
    let mut first_error = None;
    let mut tried = Vec::new();
    for &size in candidates {
        for (name, axis) in derived {
            if let Some((_, shape)) = base.iter_mut().find(|(n, _)| n == name) {
                shape[*axis] = size;
            }
        }
        tried.push(size);
        match convert_at(graph, convert, &base) {
            Ok(conversion) => return Ok((conversion, base)),
            Err(VerifyError::Convert(error @ ConvertError::Unsupported { .. })) => return Err(error.into()),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    let inputs: Vec<String> = derived.iter().map(|(n, a)| format!("'{n}' axis {a}")).collect();
    let why = first_error.map(|e| e.to_string()).unwrap_or_default();
    Err(VerifyError::Input(format!(
        "input {}: no size of the unknown dimension converts (tried {tried:?}; pass --input-shape if another \
         does); at {}: {why}",
        inputs.join(", "),
        tried.first().copied().unwrap_or_default()
    )))
}

/// The conversion at the given concrete input shapes.
fn convert_at(
    graph: &TfGraph,
    convert: &tf2h5_convert::Options,
    shapes: &[(String, Vec<usize>)],
) -> Result<Conversion, VerifyError> {
    let mut convert_options = convert.clone();
    convert_options.input_shapes = shapes.to_vec();
    Ok(tf2h5_convert::convert(graph, &convert_options)?)
}

/// The first layer (or weight) that differs between two conversions of one graph at
/// different input sizes, ignoring the input shapes themselves; `None` when they agree.
pub fn first_difference(a: &KerasModel, b: &KerasModel) -> Option<String> {
    if a.layers.len() != b.layers.len() {
        return Some(format!("{} layers at one size, {} at the other", a.layers.len(), b.layers.len()));
    }
    for (x, y) in a.layers.iter().zip(&b.layers) {
        if x.class_name != y.class_name || x.name != y.name || x.inbound != y.inbound {
            return Some(format!("layer '{}' ({}) becomes '{}' ({})", x.name, x.class_name, y.name, y.class_name));
        }
        if x.class_name == "InputLayer" {
            continue;
        }
        if x.config != y.config {
            let keys: Vec<&str> =
                x.config.iter().filter(|(k, v)| y.config.get(*k) != Some(v)).map(|(k, _)| k.as_str()).collect();
            return Some(format!("layer '{}' ({}) has another {}", x.name, x.class_name, keys.join(", ")));
        }
        if let Some(weight) = x.weights.iter().zip(&y.weights).find(|(u, v)| u != v).map(|(u, _)| &u.name) {
            return Some(format!("layer '{}' ({}) has another weight '{weight}'", x.name, x.class_name));
        }
        if x.weights.len() != y.weights.len() {
            return Some(format!("layer '{}' ({}) has another number of weights", x.name, x.class_name));
        }
    }
    None
}

/// The verification runs: the base; every kept dimension at its second size; with two or
/// more kept dimensions, each at the other size than its neighbour. With two or more pins for
/// an input, its later pins are runs of their own instead.
fn runs(
    conversion: &Conversion,
    base: &[(String, Vec<usize>)],
    dims: &[DynamicDim],
    pins: &[(String, Vec<usize>)],
) -> Result<Vec<Run>, VerifyError> {
    let in_model_order = |shapes: &[(String, Vec<usize>)]| -> Run {
        conversion.inputs.iter().filter_map(|e| shapes.iter().find(|(n, _)| *n == e.tf_node).cloned()).collect()
    };
    let mut runs = vec![in_model_order(base)];
    let kept: Vec<&DynamicDim> = dims.iter().filter(|d| d.fixed.is_none()).collect();
    let with_sizes = |pick: &dyn Fn(usize) -> bool| {
        let mut shapes = base.to_vec();
        for (i, dim) in kept.iter().enumerate() {
            if let Some((_, shape)) = shapes.iter_mut().find(|(n, _)| *n == dim.input) {
                shape[dim.axis] = if pick(i) { dim.sizes[1] } else { dim.sizes[0] };
            }
        }
        in_model_order(&shapes)
    };
    let mut pinned_runs = Vec::new();
    for (name, given) in pins.iter().filter(|(n, _)| pins.iter().filter(|(m, _)| m == n).count() > 1).skip(1) {
        for dim in dims.iter().filter(|d| &d.input == name) {
            if let Some(reason) = &dim.fixed {
                if given[dim.axis] != dim.sizes[0] {
                    return Err(VerifyError::Input(format!(
                        "input '{name}': --input-shape {} asks for size {} on axis {}, which the model fixes at {}: {reason}",
                        show(given),
                        given[dim.axis],
                        dim.axis,
                        dim.sizes[0]
                    )));
                }
            }
        }
        let mut shapes = base.to_vec();
        if let Some((_, shape)) = shapes.iter_mut().find(|(n, _)| n == name) {
            shape[1..].copy_from_slice(&given[1..]);
        }
        pinned_runs.push(in_model_order(&shapes));
    }
    if !pinned_runs.is_empty() {
        runs.extend(pinned_runs);
    } else if !kept.is_empty() {
        runs.push(with_sizes(&|_| true));
        if kept.len() > 1 {
            runs.push(with_sizes(&|i| i % 2 == 0));
        }
    }
    runs.dedup();
    Ok(runs)
}

/// The base conversion with the kept dimensions unknown in its `Input` layers and endpoints.
fn keep_unknown(mut conversion: Conversion, dims: &[DynamicDim]) -> Conversion {
    for endpoint in &mut conversion.inputs {
        for dim in dims.iter().filter(|d| d.fixed.is_none() && d.input == endpoint.tf_node) {
            if let Some(size) = endpoint.shape.get_mut(dim.axis) {
                *size = None;
            }
        }
        if let Some(layer) = conversion.model.layers.iter_mut().find(|l| endpoint.layer == l.name) {
            layer.config.insert("batch_input_shape".into(), serde_json::json!(endpoint.shape));
        }
    }
    conversion
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::layers;

    #[test]
    fn keras_sources_prove_each_unknown_dimension_at_two_sizes() {
        let sequence = vec![("x".to_string(), vec![None, None, Some(5)])];
        let runs = keras_source_runs(&sequence, &Options::default()).unwrap();
        assert_eq!(runs, [vec![("x".to_string(), vec![1, 8, 5])], vec![("x".to_string(), vec![1, 13, 5])]]);
        let image = vec![("img".to_string(), vec![None, None, None, Some(3)]), ("s".to_string(), vec![None, Some(2)])];
        let runs = keras_source_runs(&image, &Options::default()).unwrap();
        let shapes: Vec<Vec<usize>> = runs.iter().map(|run| run[0].1.clone()).collect();
        assert_eq!(shapes, [[1, 8, 8, 3], [1, 13, 8, 3], [1, 8, 13, 3]], "each axis alone: a swap shows");
        assert!(runs.iter().all(|run| run[1].1 == [1, 2]));
        let pinned = Options {
            input_shapes: vec![("x".into(), vec![1, 20, 5]), ("x".into(), vec![1, 3, 5])],
            ..Default::default()
        };
        let runs = keras_source_runs(&sequence, &pinned).unwrap();
        assert_eq!(runs, [vec![("x".to_string(), vec![1, 20, 5])], vec![("x".to_string(), vec![1, 3, 5])]]);
        let one_pin = Options { input_shapes: vec![("x".into(), vec![1, 256, 5])], ..Default::default() };
        assert_eq!(keras_source_runs(&sequence, &one_pin).unwrap()[1][0].1, [1, 385, 5]);
        let contradicting = Options { input_shapes: vec![("x".into(), vec![1, 20, 4])], ..Default::default() };
        assert!(keras_source_runs(&sequence, &contradicting).is_err());
        let unknown = Options { input_shapes: vec![("y".into(), vec![1, 20, 5])], ..Default::default() };
        assert!(keras_source_runs(&sequence, &unknown).unwrap_err().to_string().contains("'y'"));
        let fixed = vec![("x".to_string(), vec![None, Some(4)])];
        assert_eq!(keras_source_runs(&fixed, &Options::default()).unwrap().len(), 1);
    }

    #[test]
    fn candidates_prefer_multiples_of_the_strides_from_four() {
        assert_eq!(&candidates(1)[..3], &[4, 5, 6]);
        assert_eq!(&candidates(1)[BASE_ATTEMPTS..], &[1, 2, 3]);
        assert_eq!(&candidates(8)[..2], &[8, 16]);
        assert_eq!(candidates(2).last(), Some(&2));
    }

    #[test]
    fn differences_ignore_input_shapes_and_name_the_layer() {
        let model = |size: usize, units: usize| KerasModel {
            name: "m".into(),
            layers: vec![
                layers::input_layer("x", &[None, Some(size), Some(4)]),
                layers::dense("d", "x".into(), ndarray::ArrayD::zeros(vec![4, units]), None, "linear"),
            ],
            inputs: vec!["x".into()],
            outputs: vec!["d".into()],
        };
        assert_eq!(first_difference(&model(8, 3), &model(24, 3)), None);
        let why = first_difference(&model(8, 3), &model(8, 5)).unwrap();
        assert!(why.contains("layer 'd' (Dense)") && why.contains("units"), "{why}");
    }
}
