//! The source-side oracle for ONNX models: the `.onnx` file itself run by tract-onnx, never
//! the translated graph (which would only check the translation against itself).
//!
//! The translated graph's nodes map to ONNX tensors ([`tf2h5_tf::Translation`]), possibly
//! with an axis permutation (NCHW in ONNX, NHWC in the graph). Inputs are permuted back to the
//! ONNX layout before tract runs, and every requested tensor is permuted to the graph's
//! layout after, so callers compare as they do for TF graphs.

use std::sync::Arc;

use ndarray::ArrayD;
use tract_onnx::prelude::*;

use super::guard;
use crate::VerifyError;

/// A runnable ONNX model with fixed input shapes, producing the values of translated nodes.
pub struct OnnxOracle {
    plan: Arc<TypedRunnableModel>,
    /// Per input: the permutation from the graph's layout to ONNX's (`None` = same), and its
    /// type (samples arrive as f32, whole numbers for integer inputs, and are cast to it).
    inputs: Vec<(Option<Vec<usize>>, DatumType)>,
    /// Per output: the node name and the permutation from ONNX's layout to the graph's.
    outputs: Vec<(String, Option<Vec<usize>>)>,
    /// The output node names.
    names: Vec<String>,
}

/// The permutation undoing `perm`.
fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    inverse
}

fn permute(array: &ArrayD<f32>, perm: &Option<Vec<usize>>) -> Result<ArrayD<f32>, VerifyError> {
    match perm {
        None => Ok(array.clone()),
        Some(p) if p.len() == array.ndim() => {
            Ok(array.clone().permuted_axes(p.clone()).as_standard_layout().into_owned())
        }
        Some(p) => {
            Err(VerifyError::Oracle(format!("a rank-{} tensor cannot take the permutation {p:?}", array.ndim())))
        }
    }
}

impl OnnxOracle {
    /// Prepares the ONNX model `translation` came from, for inputs named (graph
    /// placeholders), shaped (graph layout) and typed as given, producing the graph nodes
    /// `outputs`.
    pub fn new(
        translation: &tf2h5_tf::Translation,
        inputs: &[(String, Vec<usize>)],
        types: &[DatumType],
        outputs: &[String],
    ) -> Result<Self, VerifyError> {
        let oracle_error = |e: TractError| VerifyError::Oracle(format!("{e:#}"));
        let source = |node: &str| {
            translation
                .tensors
                .get(node)
                .ok_or_else(|| VerifyError::Oracle(format!("node '{node}' computes no tensor of the ONNX model")))
        };
        // Intermediate `value_info` shapes are hints of the exporter (onnx.version_converter
        // writes its own batch symbols there), which clash with the concrete input shapes set
        // below; tract infers every shape itself.
        let mut model = guard::contained(|| {
            let mut onnx = tract_onnx::onnx().with_ignore_value_info(true);
            super::onnx_recurrent::register(&mut onnx.op_register);
            onnx.model_for_path(&translation.source)
        })
        .map_err(oracle_error)?;
        let mut input_perms = Vec::new();
        let mut names = Vec::new();
        for (node, _) in inputs {
            let tensor = source(node)?;
            names.push(tensor.name.clone());
            input_perms.push(tensor.permutation.as_deref().map(inverse));
        }
        model.set_input_names(&names).map_err(oracle_error)?;
        for (index, (((_, shape), perm), &datum_type)) in inputs.iter().zip(&input_perms).zip(types).enumerate() {
            let shape: Vec<usize> = match perm {
                Some(p) => p.iter().map(|&axis| shape.get(axis).copied().unwrap_or(0)).collect(),
                None => shape.clone(),
            };
            model.set_input_fact(index, InferenceFact::dt_shape(datum_type, &shape)).map_err(oracle_error)?;
        }
        let mut outlets = Vec::new();
        let mut output_perms = Vec::new();
        for node in outputs {
            let tensor = source(node)?;
            // A graph input given back as an output (Identity, a one-operand Sum) has no
            // outlet label: it is its source node's.
            let outlet = model
                .find_outlet_label(&tensor.name)
                .or_else(|| model.node_id_by_name(&tensor.name).ok().map(|id| OutletId::new(id, 0)))
                .ok_or_else(|| VerifyError::Oracle(format!("tensor '{}' is not in the ONNX model", tensor.name)))?;
            outlets.push(outlet);
            output_perms.push((node.clone(), tensor.permutation.clone()));
        }
        model.select_output_outlets(&outlets).map_err(oracle_error)?;
        let names = output_perms.iter().map(|(name, _)| name.clone()).collect();
        let inputs = input_perms.into_iter().zip(types.iter().copied()).collect();
        Ok(OnnxOracle { plan: super::runnable(model)?, inputs, outputs: output_perms, names })
    }

    /// Runs one set of inputs (graph layout); returns one array per requested node (graph
    /// layout).
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, VerifyError> {
        let inputs: TVec<TValue> = inputs
            .iter()
            .zip(&self.inputs)
            .map(|(array, (perm, datum_type))| super::typed_input(Tensor::from(permute(array, perm)?), *datum_type))
            .collect::<Result<_, VerifyError>>()?;
        let values = super::run_plan(&self.plan, inputs, &self.names)?;
        values.iter().zip(&self.outputs).map(|(array, (_, perm))| permute(array, perm)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_nhwc() {
        assert_eq!(inverse(&[0, 2, 3, 1]), vec![0, 3, 1, 2]);
        let nchw = ArrayD::from_shape_fn(vec![1, 2, 3, 4], |i| (i[1] * 100 + i[2] * 10 + i[3]) as f32);
        let nhwc = permute(&nchw, &Some(vec![0, 2, 3, 1])).unwrap();
        assert_eq!(nhwc.shape(), &[1, 3, 4, 2]);
        assert_eq!(nhwc[[0, 2, 1, 1]], 121.0);
        assert_eq!(permute(&nhwc, &Some(inverse(&[0, 2, 3, 1]))).unwrap(), nchw);
    }
}
