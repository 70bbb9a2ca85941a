//! Keras masks: which layers make a mask, which pass it on and which read it, and the mask
//! values themselves.
//!
//! Keras attaches a boolean (batch, time) mask to a tensor: `Embedding(mask_zero=True)` makes
//! `ids != 0`, `Masking` makes `any(x != mask_value)` over the features. Where a mask flows is a property of the graph, settled once when the plan is
//! built ([`flow`]); the values are computed from the maker's input when it runs
//! ([`compute`]). A recurrent layer (LSTM, GRU, SimpleRNN) reads the mask of its input: at a
//! masked step it keeps its states and repeats its previous output (zeros before the first
//! unmasked step), as tf-keras 2 and Keras 3 both do (`zero_output_for_mask` is false for a
//! layer not wrapped in `Bidirectional`). A `Bidirectional` applies it in both directions and,
//! with return_sequences, outputs zeros at masked steps. With `return_sequences` either passes
//! the mask on.
//! `Dropout` and `Activation` pass it on unchanged. Any other layer reached by a mask is an
//! error naming it and the mask's maker: the loaders differ there (tf-keras refuses a layer
//! that does not support masking, Keras 3 drops the mask), and some layers (pools, attention)
//! compute with it, which the engine does not.

use ndarray::ArrayD;
use tf2h5_keras::spec::{Family, LayerSpec, Plain, RecurrentClass};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::EngineError;

/// How one layer of the plan relates to masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flow {
    /// The layer computes its own mask from its input (its index is the mask's key).
    pub makes: bool,
    /// The mask the layer reads (by the index of the layer that made it).
    pub reads: Option<usize>,
    /// The mask its output carries.
    pub carries: Option<usize>,
}

/// The mask flow of layer `index` (`spec`), given the masks its inputs carry.
pub(crate) fn flow(
    spec: &LayerSpec,
    layer: &Layer,
    index: usize,
    input_masks: &[Option<usize>],
    model_layers: &[Layer],
) -> Result<Flow, EngineError> {
    let makes = match spec {
        LayerSpec::Embedding(e) => e.mask_zero,
        // Masking makes its own mask, whatever its input carries (Keras's compute_mask).
        _ => spec.family() == Family::Plain(Plain::Masking),
    };
    if makes {
        return Ok(Flow { makes: true, reads: None, carries: Some(index) });
    }
    let Some(&mask) = input_masks.iter().flatten().next() else {
        return Ok(Flow::default());
    };
    let cfg = LayerConfig::new(layer);
    let maker = &model_layers[mask];
    let made = if maker.class_name == "Embedding" { " with mask_zero=True" } else { "" };
    let unsupported = |what: &str| {
        cfg.unsupported(format!("reading the mask of layer '{}' ({}{made}): {what}", maker.name, maker.class_name))
    };
    if input_masks.len() != 1 {
        return Err(unsupported("a masked input of a layer with several inputs"));
    }
    match spec.family() {
        Family::Recurrent(class) => {
            // A Bidirectional returns sequences when the layer it wraps does.
            let wrapped = match class {
                RecurrentClass::Bidirectional => Some(crate::layers::recurrent::inner_layer(&cfg)?),
                _ => None,
            };
            let return_sequences =
                LayerConfig::new(wrapped.as_ref().unwrap_or(layer)).bool_or("return_sequences", false)?;
            Ok(Flow { makes: false, reads: Some(mask), carries: return_sequences.then_some(mask) })
        }
        Family::Plain(Plain::Dropout | Plain::Activation) => Ok(Flow { carries: Some(mask), ..Flow::default() }),
        _ => Err(unsupported("masks are applied by LSTM, GRU, SimpleRNN and Bidirectional layers only")),
    }
}

/// The mask a maker computes from its input: `ids != 0` for `Embedding(mask_zero=True)`,
/// `any(x != mask_value)` over the last axis for `Masking`.
pub(crate) fn compute(spec: &LayerSpec, layer: &Layer, input: &ArrayD<f32>) -> Result<ArrayD<bool>, EngineError> {
    match spec {
        LayerSpec::Embedding(e) if e.mask_zero => Ok(input.mapv(|id| id != 0.0)),
        _ => crate::layers::masking::mask(layer, input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers::{self, RecurrentKind, RecurrentOptions};
    use tf2h5_keras::spec::Embedding;

    fn embedding(mask_zero: bool) -> (LayerSpec, Layer) {
        let spec = LayerSpec::Embedding(Embedding { input_dim: 3, output_dim: 2, mask_zero });
        let layer = spec.layer("e", vec!["ids".into()], vec![]);
        (spec, layer)
    }

    #[test]
    fn embeddings_make_masks_that_recurrent_layers_read_and_pass_on() {
        let (spec, layer) = embedding(true);
        let made = flow(&spec, &layer, 1, &[None], &[]).unwrap();
        assert_eq!(made, Flow { makes: true, reads: None, carries: Some(1) });
        let (plain_spec, plain) = embedding(false);
        assert_eq!(flow(&plain_spec, &plain, 1, &[None], &[]).unwrap(), Flow::default());
        assert_eq!(
            compute(&spec, &layer, &array![[0.0f32, 2.0]].into_dyn()).unwrap(),
            array![[false, true]].into_dyn()
        );

        let model = vec![layers::input_layer("ids", &[None, Some(2)]), layer];
        for return_sequences in [true, false] {
            let options = RecurrentOptions {
                return_sequences,
                go_backwards: false,
                return_state: false,
                activation: "tanh",
                recurrent_activation: "sigmoid",
            };
            let kernels = (ArrayD::zeros(vec![2, 4]), ArrayD::zeros(vec![1, 4]));
            let lstm = layers::recurrent("lstm", "e".into(), RecurrentKind::Lstm, options, kernels.0, kernels.1, None);
            let spec = LayerSpec::parse(&lstm).unwrap();
            let read = flow(&spec, &lstm, 2, &[Some(1)], &model).unwrap();
            assert_eq!(read, Flow { makes: false, reads: Some(1), carries: return_sequences.then_some(1) });
            // A Bidirectional around it returns sequences as the wrapped layer does.
            let backward = vec![ArrayD::zeros(vec![2, 4]), ArrayD::zeros(vec![1, 4])];
            let both = layers::bidirectional("bi", lstm, backward, "concat");
            let spec = LayerSpec::parse(&both).unwrap();
            let read = flow(&spec, &both, 2, &[Some(1)], &model).unwrap();
            assert_eq!(read, Flow { makes: false, reads: Some(1), carries: return_sequences.then_some(1) });
        }
        let dense = layers::dense("d", "e".into(), ArrayD::zeros(vec![2, 1]), None, "linear");
        let spec = LayerSpec::parse(&dense).unwrap();
        let err = flow(&spec, &dense, 2, &[Some(1)], &model).unwrap_err().to_string();
        assert!(err.contains("'d'") && err.contains("mask of layer 'e'"), "{err}");
    }
}
