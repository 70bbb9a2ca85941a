//! Element-wise ops and products: activations, `Add`/`Sub`/`Mul`/`Div` (with the patterns
//! tf2onnx writes for TF's `SquaredDifference` and `Rsqrt`), variadic `Sum`/`Mean`/`Max`/`Min`,
//! `Abs`, `PRelu` and `Pow` as the arithmetic of Keras layers, `Clip` (ReLUs and shifts), `Mish`, `Gelu`,
//! the hard sigmoid and swish, `Gemm`/`MatMul` by a constant, and `Softmax`.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use tf2h5_tf::pb;
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto::{self, Const};
use crate::translator::{float_type, identity, permuted, resolve_axes, string, Attrs, Tensor, Translator, Value};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Relu", |t, node| t.unary(node, "Relu", vec![]));
    registry.insert("Sigmoid", |t, node| t.unary(node, "Sigmoid", vec![]));
    registry.insert("Tanh", |t, node| t.unary(node, "Tanh", vec![]));
    registry.insert("Erf", |t, node| t.unary(node, "Erf", vec![]));
    registry.insert("Neg", |t, node| t.unary(node, "Neg", vec![]));
    registry.insert("Exp", |t, node| t.unary(node, "Exp", vec![]));
    registry.insert("Softplus", |t, node| t.unary(node, "Softplus", vec![]));
    registry.insert("Softsign", |t, node| t.unary(node, "Softsign", vec![]));
    registry.insert("Mish", Translator::mish);
    registry.insert("Gelu", Translator::gelu);
    // Keras's `elu` and `selu` activations have their parameters built in.
    registry.insert("Elu", |t, node| {
        keras_builtin(node, "alpha", 1.0)?;
        t.unary(node, "Elu", vec![])
    });
    registry.insert("Selu", |t, node| {
        keras_builtin(node, "alpha", 1.673_263_2)?;
        keras_builtin(node, "gamma", 1.050_701)?;
        t.unary(node, "Selu", vec![])
    });
    registry.insert("Abs", Translator::abs);
    registry.insert("PRelu", Translator::prelu);
    registry.insert("Pow", Translator::pow);
    registry.insert("Sum", |t, node| t.variadic(node, "AddV2"));
    registry.insert("Mean", |t, node| t.variadic(node, "Mean"));
    registry.insert("Max", |t, node| t.variadic(node, "Maximum"));
    registry.insert("Min", |t, node| t.variadic(node, "Minimum"));
    registry.insert("LeakyRelu", |t, node| {
        let alpha = proto::attr_float(node, "alpha", 0.01)?;
        t.unary(node, "LeakyRelu", vec![("alpha", pb::attr_value::Value::F(alpha))])
    });
    registry.insert("Sqrt", Translator::sqrt);
    registry.insert("Reciprocal", Translator::reciprocal);
    registry.insert("Clip", Translator::clip);
    registry.insert("HardSigmoid", Translator::hard_sigmoid);
    registry.insert("HardSwish", Translator::hard_swish);
    registry.insert("Add", |t, node| t.binary(node, "AddV2"));
    registry.insert("Sub", |t, node| t.binary(node, "Sub"));
    registry.insert("Mul", |t, node| t.binary(node, "Mul"));
    registry.insert("Div", Translator::div);
    registry.insert("Gemm", Translator::gemm);
    registry.insert("MatMul", Translator::mat_mul);
    registry.insert("Softmax", |t, node| t.softmax(node, "Softmax"));
    registry.insert("LogSoftmax", |t, node| t.softmax(node, "LogSoftmax"));
}

/// Refuses attribute `attr` of an activation unless it is `builtin`, the value Keras's
/// activation of that name uses (ONNX's default).
fn keras_builtin(node: &NodeProto, attr: &str, builtin: f32) -> Result<(), OpError> {
    let value = proto::attr_float(node, attr, builtin)?;
    if (value - builtin).abs() > 1e-6 * builtin.abs() {
        return Err(OpError::Attr {
            attr: attr.into(),
            message: format!("{value} is not supported (Keras's activation has {builtin} built in)"),
        });
    }
    Ok(())
}

impl Translator {
    /// `Sqrt`, remembered for a `Reciprocal` that follows.
    fn sqrt(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        self.square_roots.insert(Self::output_name(node)?.to_string(), x);
        self.unary(node, "Sqrt", vec![])
    }

    /// `Reciprocal`; of a `Sqrt`, TF's `Rsqrt` of its operand.
    fn reciprocal(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let name = node.input.first().cloned().unwrap_or_default();
        match self.square_roots.get(&name).cloned() {
            Some(radicand) => {
                self.elementwise(node, "Rsqrt", vec![radicand.node.clone()], vec![("T", float_type())], &radicand)
            }
            None => self.unary(node, "Reciprocal", vec![]),
        }
    }

    /// `MatMul` of a tensor by a constant matrix (`A`: (batch, K), `B`: (K, N)) with `BiasAdd`.
    fn dense(
        &mut self,
        node: &NodeProto,
        a: Tensor,
        weight: ArrayViewD<f32>,
        bias: Option<ArrayD<f32>>,
    ) -> Result<(), OpError> {
        if a.rank() != 2 || weight.ndim() != 2 || a.shape[1] != Some(weight.shape()[0]) {
            return Err(unsupported!(
                "only (batch, K) × constant (K, N) products are supported, got {:?} × {:?}",
                a.shape,
                weight.shape()
            ));
        }
        let units = weight.shape()[1];
        let shape = vec![a.shape[0], Some(units)];
        let kernel_shape = weight.shape().to_vec();
        let kernel = self.emit_f32(&self.part("kernel"), weight, &kernel_shape);
        let rows = self.rows_of(&a);
        let Some(bias) = bias else {
            self.emit_output(node, "MatMul", vec![a.node, kernel], vec![("T", float_type())], shape, identity(2))?;
            return self.inherit_rows(node, rows);
        };
        let matmul = self.emit(&self.part("matmul"), "MatMul", vec![a.node, kernel], vec![("T", float_type())]);
        if bias.len() != units || bias.shape().iter().rev().skip(1).any(|&d| d != 1) {
            return Err(unsupported!(
                "the bias of shape {:?} does not broadcast per output unit ({units})",
                bias.shape()
            ));
        }
        let bias = self.emit_const(
            &self.part("bias"),
            &Const::F32(bias.into_shape_with_order(IxDyn(&[units])).map_err(|e| e.to_string())?),
        );
        self.emit_output(node, "BiasAdd", vec![matmul, bias], vec![], shape, identity(2))?;
        self.inherit_rows(node, rows)
    }

    /// `Gemm`: `alpha·A·op(B) + beta·C` with constant B and C; alpha and beta are folded in.
    fn gemm(&mut self, node: &NodeProto) -> Result<(), OpError> {
        if proto::attr_int(node, "transA", 0)? != 0 {
            return Err("transA = 1 is not supported".into());
        }
        let a = self.tensor_merged(node, 0)?;
        let b = self.constant(node, 1)?.ok_or("B (input 1) is missing")?;
        let b = proto::f32_view(&b);
        let b = if proto::attr_int(node, "transB", 0)? != 0 { b.view().reversed_axes() } else { b.view() };
        let alpha = proto::attr_float(node, "alpha", 1.0)?;
        let beta = proto::attr_float(node, "beta", 1.0)?;
        let bias = self.constant(node, 2)?.map(|c| c.to_f32().mapv(|v| v * beta));
        let scaled = (alpha != 1.0).then(|| b.mapv(|v| v * alpha));
        let b = scaled.as_ref().map_or(b, |s| s.view());
        if a.merge.is_some() {
            // Rows merging the batch (PyTorch's attention output, (T·B, E)): on the last axis.
            return self.last_axis_mat_mul(node, a, b, bias);
        }
        self.dense(node, Self::batch_on_axis_0(a, 0)?, b, bias)
    }

    fn mat_mul(&mut self, node: &NodeProto) -> Result<(), OpError> {
        if let Value::Pending(one_hot) = self.value(node, 0)?.clone() {
            return self.one_hot_product(node, &one_hot);
        }
        let a = self.tensor_merged(node, 0)?;
        if self.is_tensor(node, 1) {
            let b = self.tensor_merged(node, 1)?;
            return self.batched_mat_mul(node, a, b);
        }
        let b = self.constant(node, 1)?.ok_or("only products with a constant right-hand side are supported")?;
        let b = proto::f32_view(&b);
        if (a.rank() > 2 || a.merge.is_some()) && a.batch_axis() != a.rank() - 1 {
            return self.last_axis_mat_mul(node, a, b.view(), None);
        }
        self.dense(node, Self::batch_on_axis_0(a, 0)?, b.view(), None)
    }

    /// `MatMul` of two tensors of one rank (3 or more) that share the batch and every other
    /// leading axis, as attention writes its scores `q @ kᵀ` and its mix `p @ v` per head: a
    /// TF `Einsum` over the axes as each operand is held (so a `Transpose` before it costs
    /// nothing here), which the converter maps to per-head `Dot`s.
    fn batched_mat_mul(&mut self, node: &NodeProto, a: Tensor, b: Tensor) -> Result<(), OpError> {
        let rank = a.rank();
        let lead = rank.saturating_sub(2);
        let leading_match = b.rank() == rank
            && a.shape[..lead] == b.shape[..lead]
            && a.merge == b.merge
            && a.batch_axis() == b.batch_axis()
            && a.batch_axis() < lead;
        // Leading axes are lettered from 'a' up to before 'k' (the contraction's letter).
        if rank < 3 || !leading_match || a.shape[rank - 1] != b.shape[rank - 2] || a.expanded().len() > 12 {
            return Err(unsupported!(
                "a product of two tensors shaped {:?} and {:?} (only batched matrix products of one rank, \
                 sharing the batch and leading axes)",
                a.shape,
                b.shape
            ));
        }
        // Letters of the expanded axes: shared leading ones, then rows, the contraction, columns.
        let leading: Vec<char> = (0..a.expanded().len() - 2).map(|i| (b'a' + i as u8) as char).collect();
        let onnx_a: Vec<char> = leading.iter().copied().chain(['x', 'k']).collect();
        let onnx_b: Vec<char> = leading.iter().copied().chain(['k', 'y']).collect();
        let onnx_out: Vec<char> = leading.iter().copied().chain(['x', 'y']).collect();
        let mut out = a.clone();
        out.shape[rank - 1] = b.shape[rank - 1];
        out.layout = crate::translator::batch_first(onnx_out.len(), a.layout[0]);
        let held =
            |letters: &[char], layout: &[usize]| -> String { layout.iter().map(|&axis| letters[axis]).collect() };
        let equation =
            format!("{},{}->{}", held(&onnx_a, &a.layout), held(&onnx_b, &b.layout), held(&onnx_out, &out.layout));
        let attrs: Attrs =
            vec![("equation", string(&equation)), ("N", pb::attr_value::Value::I(2)), ("T", float_type())];
        self.emit_output_as(node, "Einsum", vec![a.node, b.node], attrs, &out)
    }

    /// `MatMul` of a (..., K) tensor by a constant (K, N) (a PyTorch `Linear` on
    /// channels-last pixels, as in ConvNeXt, or on a time-major sequence): TF's `tensordot`
    /// form, Reshape to (batch·..., K) → `MatMul` → Reshape back, which the converter turns
    /// into a `Dense` on the last axis.
    fn last_axis_mat_mul(
        &mut self,
        node: &NodeProto,
        a: Tensor,
        weight: ArrayViewD<f32>,
        bias: Option<ArrayD<f32>>,
    ) -> Result<(), OpError> {
        let rank = a.rank();
        let k = a.shape[rank - 1];
        if weight.ndim() != 2 || k != Some(weight.shape()[0]) {
            return Err(unsupported!(
                "only (batch, ..., K) × constant (K, N) products are supported, got {:?} × {:?}",
                a.shape,
                weight.shape()
            ));
        }
        let units = weight.shape()[1];
        let a = self.in_onnx_layout(&a)?;
        let rows_shape = self.emit_ints(&self.part("rows/shape"), &[-1, weight.shape()[0] as i64]);
        let rows =
            self.emit(&self.part("rows"), "Reshape", vec![a.node.clone(), rows_shape], vec![("T", float_type())]);
        let kernel_shape = weight.shape().to_vec();
        let kernel = self.emit_f32(&self.part("kernel"), weight, &kernel_shape);
        let mut product = self.emit(&self.part("matmul"), "MatMul", vec![rows, kernel], vec![("T", float_type())]);
        if let Some(bias) = bias {
            if bias.len() != units {
                return Err(unsupported!("a bias of shape {:?} for {units} output units", bias.shape()));
            }
            let bias = bias.into_shape_with_order(IxDyn(&[units])).map_err(|e| e.to_string())?;
            let bias = self.emit_const(&self.part("bias"), &Const::F32(bias));
            product = self.emit(&self.part("bias_add"), "BiasAdd", vec![product, bias], vec![("T", float_type())]);
        }
        let mut out = a.clone();
        out.shape[rank - 1] = Some(units);
        // In TF terms: `a` as held, batch first.
        let expanded = a.expanded();
        let held = Tensor {
            node: a.node.clone(),
            shape: permuted(&expanded, &a.layout),
            layout: identity(a.layout.len()),
            merge: None,
        };
        let back = self.reshape_target(&held, &permuted(&out.expanded(), &a.layout))?;
        self.emit_output_as(node, "Reshape", vec![product, back], vec![("T", float_type())], &out)
    }

    /// `Clip(0, 6)` → `Relu6`, `Clip(0, ∞)` → `Relu`; other bounds have no exact Keras layer.
    /// The bounds are the `min`/`max` attributes before opset 11, inputs 1 and 2 from it.
    fn clip(&mut self, node: &NodeProto) -> Result<(), OpError> {
        self.tensor(node, 0)?;
        let bound = |index: usize, attr: &str| -> Result<Option<f32>, OpError> {
            if self.opset < 11 {
                return proto::attr_float_opt(node, attr);
            }
            match self.constant(node, index)? {
                None => Ok(None),
                Some(c) if c.shape().iter().product::<usize>() == 1 => Ok(c.to_f32().iter().next().copied()),
                Some(_) => Err(unsupported!("input {index} must be a scalar")),
            }
        };
        if self.opset < 11 && node.input.len() > 1 {
            return Err("inputs after the data are not read before opset 11 (min and max are attributes)".into());
        }
        // Infinite bounds bound nothing.
        let min = bound(1, "min")?.filter(|&v| v != f32::NEG_INFINITY);
        let max = bound(2, "max")?.filter(|&v| v != f32::INFINITY);
        match (min, max) {
            (Some(min), Some(max)) if min == 0.0 && max == 6.0 => self.unary(node, "Relu6", vec![]),
            (Some(0.0), None) => self.unary(node, "Relu", vec![]),
            (min, max) if min.is_some_and(f32::is_nan) || max.is_some_and(f32::is_nan) => {
                Err(unsupported!("Clip({min:?}, {max:?}): a NaN bound is not supported"))
            }
            (min, max) => self.clip_between(node, min, max),
        }
    }

    /// `Clip` to [min, max] (either may be absent) through ReLUs and shifts, exact up to
    /// rounding: max(x, a) = relu(x − a) + a, then min(y, b) = b − relu(b − y). With min >
    /// max every value becomes max, as ONNX specifies.
    fn clip_between(&mut self, node: &NodeProto, min: Option<f32>, max: Option<f32>) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let Some(b) = max else {
            let Some(a) = min else {
                self.bind(Self::output_name(node)?, x);
                return Ok(());
            };
            let above = self.relu_of_shifted(&x.node, -a, "above_min");
            let a = self.emit_scalar(&self.part("min"), a);
            return self.elementwise(node, "AddV2", vec![above, a], vec![("T", float_type())], &x);
        };
        let y = match min {
            Some(a) => {
                let above = self.relu_of_shifted(&x.node, -a, "above_min");
                let a = self.emit_scalar(&self.part("min"), a);
                self.emit(&self.part("at_least_min"), "AddV2", vec![above, a], vec![("T", float_type())])
            }
            None => x.node.clone(),
        };
        let negated = self.emit(&self.part("negated"), "Neg", vec![y], vec![("T", float_type())]);
        let over = self.relu_of_shifted(&negated, b, "below_max");
        let over = self.emit(&self.part("negated_below_max"), "Neg", vec![over], vec![("T", float_type())]);
        let b = self.emit_scalar(&self.part("max"), b);
        self.elementwise(node, "AddV2", vec![over, b], vec![("T", float_type())], &x)
    }

    /// relu(`x` + `shift`), the TF nodes named after `what`.
    fn relu_of_shifted(&mut self, x: &str, shift: f32, what: &str) -> String {
        let shift = self.emit_scalar(&self.part(&format!("{what}/shift")), shift);
        let shifted = self.emit(&self.part(&format!("{what}/shifted")), "AddV2", vec![x.to_string(), shift], vec![]);
        self.emit(&self.part(what), "Relu", vec![shifted], vec![])
    }

    /// `Mish(x)` = x · tanh(softplus(x)): Keras's `softplus` and `tanh` activations and
    /// `Multiply`, as the ONNX function body defines it.
    fn mish(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let softplus = self.emit(&self.part("softplus"), "Softplus", vec![x.node.clone()], vec![]);
        let tanh = self.emit(&self.part("tanh"), "Tanh", vec![softplus], vec![]);
        self.elementwise(node, "Mul", vec![x.node.clone(), tanh], vec![("T", float_type())], &x)
    }

    /// `Gelu` (opset 20). The exact form (`approximate` "none") as TF's `tf.nn.gelu` writes
    /// it, `0.5·x · erfc(-x·(1/√2))`, which the converter's GELU pattern reads as
    /// `Activation('gelu')` (onnxruntime computes `0.5·x·(1 + erf(x/√2))`: float32 rounding
    /// apart, the same). The tanh approximation as tf-keras writes
    /// `gelu(approximate=True)`, `0.5·x · (1 + tanh(√(2/π)·(x + 0.044715·x³)))`, which converts
    /// op by op (the cube as a product).
    fn gelu(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let factor = match proto::attr_str(node, "approximate", "none")?.as_str() {
            "none" => {
                let minus_half_sqrt2 =
                    self.emit_scalar(&self.part("minus_sqrt_half"), -std::f32::consts::FRAC_1_SQRT_2);
                let scaled = self.emit(&self.part("scaled"), "Mul", vec![x.node.clone(), minus_half_sqrt2], vec![]);
                self.emit(&self.part("erfc"), "Erfc", vec![scaled], vec![])
            }
            "tanh" => self.one_plus_tanh_of_gelu_argument(&x),
            other => return Err(unsupported!("approximate '{other}'")),
        };
        let half = self.emit_scalar(&self.part("half"), 0.5);
        let half_x = self.emit(&self.part("half_x"), "Mul", vec![half, x.node.clone()], vec![]);
        let half_x = Tensor { node: half_x, ..x.clone() };
        self.elementwise(node, "Mul", vec![half_x.node.clone(), factor], vec![("T", float_type())], &half_x)
    }

    /// `1 + tanh(√(2/π)·(x + 0.044715·x³))`, the tanh-approximate GELU's factor of `0.5·x`.
    fn one_plus_tanh_of_gelu_argument(&mut self, x: &Tensor) -> String {
        const CUBE_COEFFICIENT: f32 = 0.044715;
        let sqrt_two_over_pi = (2.0 / std::f64::consts::PI).sqrt() as f32;
        let three = self.emit_scalar(&self.part("three"), 3.0);
        let cube = self.emit(&self.part("cube"), "Pow", vec![x.node.clone(), three], vec![]);
        let coefficient = self.emit_scalar(&self.part("cube_coefficient"), CUBE_COEFFICIENT);
        let cube = self.emit(&self.part("scaled_cube"), "Mul", vec![coefficient, cube], vec![]);
        let inner = self.emit(&self.part("inner"), "AddV2", vec![x.node.clone(), cube], vec![]);
        let scale = self.emit_scalar(&self.part("sqrt_two_over_pi"), sqrt_two_over_pi);
        let argument = self.emit(&self.part("argument"), "Mul", vec![scale, inner], vec![]);
        let tanh = self.emit(&self.part("tanh"), "Tanh", vec![argument], vec![]);
        let one = self.emit_scalar(&self.part("one"), 1.0);
        self.emit(&self.part("one_plus_tanh"), "AddV2", vec![one, tanh], vec![])
    }

    /// relu6(x + 3) / 6 for `x`, MobileNetV3's hard-sigmoid as the converter's pattern
    /// expects it; the final `Mul` is named `name`.
    fn relu6_plus_3_over_6(&mut self, x: &Tensor, name: &str) -> String {
        let three = self.emit_scalar(&self.part("three"), 3.0);
        let added = self.emit(&self.part("add"), "AddV2", vec![x.node.clone(), three], vec![]);
        let relu6 = self.emit(&self.part("relu6"), "Relu6", vec![added], vec![]);
        let sixth = self.emit_scalar(&self.part("one_sixth"), 1.0 / 6.0);
        self.emit(name, "Mul", vec![relu6, sixth], vec![])
    }

    /// `HardSigmoid(alpha, beta)` = clip(alpha·x + beta, 0, 1) = relu6(6·alpha·x + 6·beta) / 6.
    /// PyTorch's (alpha 1/6, beta 0.5) is relu6(x + 3) / 6.
    fn hard_sigmoid(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let alpha = proto::attr_float(node, "alpha", 0.2)?;
        let beta = proto::attr_float(node, "beta", 0.5)?;
        let scaled = if (alpha - 1.0 / 6.0).abs() <= f32::EPSILON && beta == 0.5 {
            x.clone()
        } else {
            let scale = self.emit_scalar(&self.part("scale"), alpha * 6.0);
            let scaled = self.emit(&self.part("scaled"), "Mul", vec![x.node.clone(), scale], vec![]);
            let offset = self.emit_scalar(&self.part("offset"), beta * 6.0 - 3.0);
            let node = self.emit(&self.part("shifted"), "AddV2", vec![scaled, offset], vec![]);
            Tensor { node, ..x.clone() }
        };
        let output = Self::output_name(node)?.to_string();
        let result = self.relu6_plus_3_over_6(&scaled, &output);
        let rows = self.rows_of(&x);
        self.bind(&output, Tensor { node: result, ..x });
        self.inherit_rows(node, rows)
    }

    /// `HardSwish` = x · relu6(x + 3) / 6.
    fn hard_swish(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let gate = self.relu6_plus_3_over_6(&x, &self.part("hard_sigmoid"));
        self.elementwise(node, "Mul", vec![x.node.clone(), gate], vec![], &x)
    }

    /// Element-wise `Add`/`Sub`/`Mul`/`Div` of tensors of one layout, or with a constant.
    fn binary(&mut self, node: &NodeProto, op: &str) -> Result<(), OpError> {
        let (a, b) = (self.value(node, 0)?.clone(), self.value(node, 1)?.clone());
        // (x - m)·(x - m): TF's SquaredDifference, as tf2onnx expands it.
        if op == "Mul" && node.input.first() == node.input.get(1) && self.squared_difference(node)? {
            return Ok(());
        }
        let (inputs, x) = match (&a, &b) {
            (Value::Tensor(a), Value::Tensor(b)) => {
                let (b, shape) = self.operand_like(a, b)?;
                (vec![a.node.clone(), b], shape)
            }
            (Value::Tensor(t), Value::Const(c)) => {
                (vec![t.node.clone(), self.broadcast_constant(c, t, &self.part("b"))?], t.clone())
            }
            (Value::Const(c), Value::Tensor(t)) => {
                (vec![self.broadcast_constant(c, t, &self.part("a"))?, t.node.clone()], t.clone())
            }
            _ => return self.shape_binary(node, op),
        };
        if let (Value::Tensor(a), Value::Tensor(b), "Sub") = (&a, &b, op) {
            self.differences.insert(Self::output_name(node)?.to_string(), (a.clone(), b.clone()));
        }
        self.elementwise(node, op, inputs, vec![("T", float_type())], &x)
    }

    /// `Div`; of a difference `x - m` by a `Sqrt(v)`, a normalisation (PaddlePaddle's layer
    /// norm: `(x - mean) / sqrt(var + eps)`), written `x·rsqrt(v) + -(m·rsqrt(v))`, the form
    /// the converter's normalisation pattern reads (its `x - m` and `Sqrt` then unread).
    fn div(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let name = |i: usize| node.input.get(i).cloned().unwrap_or_default();
        let difference = self.differences.get(&name(0)).cloned();
        let Some(((x, m), radicand)) = difference.zip(self.square_roots.get(&name(1)).cloned()) else {
            return self.binary(node, "RealDiv");
        };
        if x.rank() != m.rank() || x.layout != m.layout || x.layout != radicand.layout {
            return self.binary(node, "RealDiv");
        }
        let float = || vec![("T", float_type())];
        let inv = self.emit(&self.part("rsqrt"), "Rsqrt", vec![radicand.node.clone()], float());
        let scaled = self.emit(&self.part("scaled"), "Mul", vec![x.node.clone(), inv.clone()], float());
        let mean_scaled = self.emit(&self.part("mean_scaled"), "Mul", vec![m.node.clone(), inv], float());
        let shift = self.emit(&self.part("shift"), "Neg", vec![mean_scaled], float());
        self.elementwise(node, "AddV2", vec![scaled, shift], float(), &x)
    }

    /// `x` squared as TF's `SquaredDifference` when `node`'s input 0 is a `Sub` of two tensors
    /// held alike (what the converter's normalisation patterns read); false otherwise.
    fn squared_difference(&mut self, node: &NodeProto) -> Result<bool, OpError> {
        let Some((x, m)) = node.input.first().and_then(|d| self.differences.get(d)).cloned() else {
            return Ok(false);
        };
        if x.rank() != m.rank() || x.layout != m.layout {
            return Ok(false);
        }
        self.elementwise(node, "SquaredDifference", vec![x.node.clone(), m.node], vec![("T", float_type())], &x)?;
        Ok(true)
    }

    /// Tensor `b` as the second operand of an element-wise op on `a`: held in `a`'s layout.
    /// Returns its TF node and the result (`a`'s shape, broadcasting axes of size 1).
    fn operand_like(&mut self, a: &Tensor, b: &Tensor) -> Result<(String, Tensor), OpError> {
        if a.rank() != b.rank() {
            return Err(unsupported!("operands of shapes {:?} and {:?} (ranks must agree)", a.shape, b.shape));
        }
        if a.merge != b.merge {
            return Err(unsupported!("operands of shapes {:?} and {:?} merge the batch differently", a.shape, b.shape));
        }
        let b = self.held_as(b, &a.layout, &self.part("b_layout"))?;
        let shape = a.shape.iter().zip(&b.shape).map(|(x, y)| match (x, y) {
            (Some(1), other) | (other, Some(1)) => *other,
            (x, _) => *x,
        });
        Ok((b.node, Tensor { shape: shape.collect(), ..a.clone() }))
    }

    /// Variadic `Sum` / `Max` / `Min` / `Mean` of tensors: a chain of TF `AddV2` / `Maximum` /
    /// `Minimum` (`Mean`: the sum times 1/n). One input is the tensor itself.
    fn variadic(&mut self, node: &NodeProto, op: &str) -> Result<(), OpError> {
        // Two operands, one a constant (jax's `max(0, x)`): the binary op with it broadcast.
        if node.input.len() == 2 && op != "Mean" && (0..2).any(|i| !self.is_tensor(node, i)) {
            return self.binary(node, op);
        }
        let tensors: Vec<Tensor> = (0..node.input.len()).map(|i| self.tensor(node, i)).collect::<Result<_, _>>()?;
        let (first, rest) = tensors.split_first().ok_or("no inputs")?;
        if rest.is_empty() {
            self.bind(Self::output_name(node)?, first.clone());
            return Ok(());
        }
        let (chained, is_mean) = if op == "Mean" { ("AddV2", true) } else { (op, false) };
        let mut acc = first.clone();
        for (index, b) in rest.iter().enumerate() {
            let (b, result) = self.operand_like(&acc, b)?;
            let inputs = vec![acc.node.clone(), b];
            if index + 1 == rest.len() && !is_mean {
                return self.elementwise(node, chained, inputs, vec![("T", float_type())], &result);
            }
            let node = self.emit(&self.part(&format!("{}_{index}", chained.to_lowercase())), chained, inputs, vec![]);
            acc = Tensor { node, ..result };
        }
        let scale = self.emit_scalar(&self.part("one_over_n"), 1.0 / tensors.len() as f32);
        self.elementwise(node, "Mul", vec![acc.node.clone(), scale], vec![("T", float_type())], &acc)
    }

    /// relu(-x): the negative part of `x`, negated.
    fn negative_part(&mut self, x: &Tensor) -> String {
        let negated = self.emit(&self.part("negated"), "Neg", vec![x.node.clone()], vec![]);
        self.emit(&self.part("negative_part"), "Relu", vec![negated], vec![])
    }

    /// `Abs(x)` = relu(x) + relu(-x) (Keras has no abs layer): ReLU, Rescaling(-1), ReLU, Add.
    fn abs(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let positive = self.emit(&self.part("positive_part"), "Relu", vec![x.node.clone()], vec![]);
        let negative = self.negative_part(&x);
        self.elementwise(node, "AddV2", vec![positive, negative], vec![("T", float_type())], &x)
    }

    /// `PRelu(x, slope)` with a constant slope = relu(x) − slope · relu(−x), the slope
    /// broadcast (per channel, or one value) in `x`'s layout.
    fn prelu(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let slope = self.constant(node, 1)?.ok_or("the slope (input 1) is missing")?;
        let negated_slope = Const::F32(slope.to_f32().mapv(|v| -v));
        let negated_slope = self.broadcast_constant(&negated_slope, &x, &self.part("negated_slope"))?;
        let positive = self.emit(&self.part("positive_part"), "Relu", vec![x.node.clone()], vec![]);
        let negative = self.negative_part(&x);
        let negative = self.emit(&self.part("negative"), "Mul", vec![negative, negated_slope], vec![]);
        self.elementwise(node, "AddV2", vec![positive, negative], vec![("T", float_type())], &x)
    }

    /// `Pow` by a constant exponent: 1 is the tensor itself, 2 TF's `Square` (Keras
    /// `Multiply([x, x])`) or `SquaredDifference` of a `Sub` (paddle2onnx's variance), 3 and 4
    /// TF's `Pow`, which the converter writes as a product of copies. Other exponents (0.5
    /// included) have no Keras layer.
    fn pow(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let exponent = self
            .constant(node, 1)?
            .filter(|c| c.shape().iter().product::<usize>() == 1)
            .and_then(|c| c.to_f32().iter().next().copied())
            .ok_or("the exponent must be a constant scalar")?;
        match exponent {
            1.0 => {
                self.bind(Self::output_name(node)?, x);
                Ok(())
            }
            2.0 if self.squared_difference(node)? => Ok(()),
            2.0 => self.unary(node, "Square", vec![("T", float_type())]),
            3.0 | 4.0 => {
                let exponent = self.emit_scalar(&self.part("exponent"), exponent);
                self.elementwise(node, "Pow", vec![x.node.clone(), exponent], vec![("T", float_type())], &x)
            }
            _ => Err(unsupported!("exponent {exponent}: only whole powers 1 to 4 have a Keras form (as products)")),
        }
    }

    /// `Softmax` from opset 13: over one axis (default -1). Before 13, over the input coerced
    /// to 2-D at `axis` (default 1): jointly over every axis from `axis` on. TF's `Softmax`
    /// normalises the last axis of its layout: the channels of an NHWC-held tensor, or the
    /// last one; any other case whose later axes are all 1 (or coerced) is a reshape to
    /// (…, product) around it.
    /// `LogSoftmax` is the same with TF's `op` `LogSoftmax`.
    fn softmax(&mut self, node: &NodeProto, op: &str) -> Result<(), OpError> {
        let x = self.tensor_merged(node, 0)?;
        let rank = x.rank();
        let coerced = self.opset < 13;
        let axis = proto::attr_int(node, "axis", if coerced { 1 } else { -1 })?;
        let axis = resolve_axes(&[axis], rank)?[0];
        if axis == x.batch_axis() {
            return Err(unsupported!("axis {axis} of {:?}: a softmax over the batch is not supported", x.shape));
        }
        let normalised = if coerced { axis..rank } else { axis..axis + 1 };
        let larger: Vec<usize> = normalised.filter(|&a| x.shape[a] != Some(1)).collect();
        let single = match larger[..] {
            [] => Some(axis),
            [one] => Some(one),
            _ => None,
        };
        if single.is_some_and(|a| x.layout.last() == x.expanded_axes(a).last()) {
            return self.unary(node, op, vec![("T", float_type())]);
        }
        // A moved or merged batch: only the single axis, held last.
        let x = if single.is_none() { Self::batch_on_axis_0(x, 0)? } else { x };
        if let Some(a) = single {
            let a = x.expanded_axes(a)[0];
            // TF's Softmax normalises the last axis: hold `x` with axis `a` last (NHWC for the
            // channels of an NCHW tensor, as the DFL head of YOLOv8 before its 1×1 Conv), as
            // TF's own softmax over an axis other than the last does.
            let layout: Vec<usize> = if rank == 4 && a == 1 && x.layout[0] == 0 && x.merge.is_none() {
                crate::translator::TO_NHWC.to_vec()
            } else {
                let batch = x.layout[0];
                std::iter::once(batch).chain((0..x.layout.len()).filter(|&b| b != a && b != batch)).chain([a]).collect()
            };
            let held = self.held_as(&x, &layout, &self.part("softmax_axis_last"))?;
            return self.emit_output_as(node, op, vec![held.node.clone()], vec![("T", float_type())], &held);
        }
        self.coerced_softmax(node, &x, axis, op)
    }

    /// Softmax jointly over the axes of `x` from `axis` on: `Reshape` to (batch, d1, …,
    /// d(axis-1), product), `Softmax` over the last axis, `Reshape` back.
    fn coerced_softmax(&mut self, node: &NodeProto, x: &Tensor, axis: usize, op: &str) -> Result<(), OpError> {
        if self.rows_of(x) != 1 {
            return Err("a softmax of rows merged with the batch is not supported".into());
        }
        let dims: Vec<i64> = x.features()?.iter().map(|&d| d as i64).collect();
        let source = if x.in_onnx_order() { x.clone() } else { self.in_onnx_layout(x)? };
        let mut flat = vec![-1];
        flat.extend_from_slice(&dims[..axis - 1]);
        flat.push(dims[axis - 1..].iter().product());
        let flat_shape = self.emit_ints(&self.part("coerced/shape"), &flat);
        let flat =
            self.emit(&self.part("coerced"), "Reshape", vec![source.node, flat_shape], vec![("T", float_type())]);
        let normalised = self.emit(&self.part("softmax"), op, vec![flat], vec![("T", float_type())]);
        let back: Vec<i64> = std::iter::once(-1).chain(dims).collect();
        let back = self.emit_ints(&self.part("shape"), &back);
        let rank = x.rank();
        self.emit_output(
            node,
            "Reshape",
            vec![normalised, back],
            vec![("T", float_type())],
            x.shape.clone(),
            identity(rank),
        )
    }
}
