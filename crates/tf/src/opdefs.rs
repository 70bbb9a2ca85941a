//! Op signatures for freezing: which flat output index `node:out_arg:k` means, and which
//! attribute defaults TF stripped from saved nodes.
//!
//! A SavedModel lists the OpDef of every op it uses (`meta_info_def.stripped_op_list`,
//! with defaults); that list wins. The built-in table below covers common ops for
//! SavedModels that lack it (multi-output ops and the defaults the converter relies on).

use std::collections::HashMap;

use crate::pb::{attr_value, op_def::ArgDef, AttrValue, NodeDef, OpDef};

/// How many tensors an output argument stands for.
#[derive(Debug, Clone, Copy)]
enum Arity {
    One,
    /// `N * T`: the count is an int attribute.
    Number(&'static str),
    /// `list(type)`: the count is the length of a type-list attribute.
    TypeList(&'static str),
}

#[derive(Debug, Clone, Copy)]
enum AttrDefault {
    S(&'static str),
    I(i64),
    F(f32),
    B(bool),
    /// A data type (`DataType` enum value).
    T(i32),
    Ints(&'static [i64]),
}

struct Builtin {
    op: &'static str,
    outputs: &'static [(&'static str, Arity)],
    defaults: &'static [(&'static str, AttrDefault)],
}

use Arity::*;
use AttrDefault::*;

const NHWC: (&str, AttrDefault) = ("data_format", S("NHWC"));
const CONV: &[(&str, AttrDefault)] =
    &[NHWC, ("dilations", Ints(&[1, 1, 1, 1])), ("use_cudnn_on_gpu", B(true)), ("explicit_paddings", Ints(&[]))];
const BN: &[(&str, AttrDefault)] =
    &[("epsilon", F(1e-4)), ("exponential_avg_factor", F(1.0)), NHWC, ("is_training", B(true))];
const BN_OUT: &[(&str, Arity)] =
    &[("y", One), ("batch_mean", One), ("batch_variance", One), ("reserve_space_1", One), ("reserve_space_2", One)];
const BN3_OUT: &[(&str, Arity)] = &[
    ("y", One),
    ("batch_mean", One),
    ("batch_variance", One),
    ("reserve_space_1", One),
    ("reserve_space_2", One),
    ("reserve_space_3", One),
];

const BUILTINS: &[Builtin] = &[
    Builtin { op: "Conv2D", outputs: &[("output", One)], defaults: CONV },
    Builtin { op: "DepthwiseConv2dNative", outputs: &[("output", One)], defaults: CONV },
    Builtin { op: "BiasAdd", outputs: &[("output", One)], defaults: &[NHWC] },
    Builtin { op: "MaxPool", outputs: &[("output", One)], defaults: &[NHWC, ("explicit_paddings", Ints(&[]))] },
    Builtin { op: "AvgPool", outputs: &[("output", One)], defaults: &[NHWC] },
    Builtin {
        op: "MatMul",
        outputs: &[("product", One)],
        defaults: &[("transpose_a", B(false)), ("transpose_b", B(false)), ("grad_a", B(false)), ("grad_b", B(false))],
    },
    Builtin {
        op: "BatchMatMulV2",
        outputs: &[("output", One)],
        defaults: &[("adj_x", B(false)), ("adj_y", B(false)), ("grad_x", B(false)), ("grad_y", B(false))],
    },
    Builtin { op: "FusedBatchNorm", outputs: BN_OUT, defaults: BN },
    Builtin { op: "FusedBatchNormV2", outputs: BN_OUT, defaults: BN },
    Builtin { op: "FusedBatchNormV3", outputs: BN3_OUT, defaults: BN },
    Builtin { op: "Mean", outputs: &[("output", One)], defaults: &[("keep_dims", B(false))] },
    Builtin { op: "Sum", outputs: &[("output", One)], defaults: &[("keep_dims", B(false))] },
    Builtin { op: "Max", outputs: &[("output", One)], defaults: &[("keep_dims", B(false))] },
    Builtin { op: "Squeeze", outputs: &[("output", One)], defaults: &[("squeeze_dims", Ints(&[]))] },
    Builtin { op: "Pack", outputs: &[("output", One)], defaults: &[("axis", I(0))] },
    Builtin { op: "Unpack", outputs: &[("output", Number("num"))], defaults: &[("axis", I(0))] },
    Builtin { op: "Split", outputs: &[("output", Number("num_split"))], defaults: &[] },
    Builtin { op: "SplitV", outputs: &[("output", Number("num_split"))], defaults: &[] },
    Builtin { op: "IdentityN", outputs: &[("output", TypeList("T"))], defaults: &[] },
    Builtin {
        op: "StridedSlice",
        outputs: &[("output", One)],
        defaults: &[
            ("begin_mask", I(0)),
            ("end_mask", I(0)),
            ("ellipsis_mask", I(0)),
            ("new_axis_mask", I(0)),
            ("shrink_axis_mask", I(0)),
        ],
    },
    Builtin { op: "Shape", outputs: &[("output", One)], defaults: &[("out_type", T(3))] },
    Builtin { op: "Cast", outputs: &[("y", One)], defaults: &[("Truncate", B(false))] },
    Builtin { op: "LeakyRelu", outputs: &[("activations", One)], defaults: &[("alpha", F(0.2))] },
    Builtin {
        op: "ResizeBilinear",
        outputs: &[("resized_images", One)],
        defaults: &[("align_corners", B(false)), ("half_pixel_centers", B(false))],
    },
    Builtin {
        op: "ResizeNearestNeighbor",
        outputs: &[("resized_images", One)],
        defaults: &[("align_corners", B(false)), ("half_pixel_centers", B(false))],
    },
    Builtin { op: "TopKV2", outputs: &[("values", One), ("indices", One)], defaults: &[("sorted", B(true))] },
    Builtin { op: "Unique", outputs: &[("y", One), ("idx", One)], defaults: &[] },
    Builtin { op: "GatherV2", outputs: &[("output", One)], defaults: &[("batch_dims", I(0))] },
];

/// Looks up OpDefs: the SavedModel's own list first, then the built-in table.
pub struct OpRegistry<'a> {
    saved: HashMap<&'a str, &'a OpDef>,
}

impl<'a> OpRegistry<'a> {
    /// A registry over the SavedModel's `stripped_op_list`.
    pub fn new(ops: &'a [OpDef]) -> Self {
        OpRegistry { saved: ops.iter().map(|op| (op.name.as_str(), op)).collect() }
    }

    /// The flat index of `out_arg:k` of `node`, or `None` if the op is unknown here.
    /// Errors if the op is known but has no such output argument.
    pub fn flat_output(&self, node: &NodeDef, out_arg: &str, k: usize) -> Option<Result<usize, String>> {
        if let Some(op) = self.saved.get(node.op.as_str()) {
            let default = |attr: &str| op.attr.iter().find(|a| a.name == attr).and_then(|a| a.default_value.clone());
            return Some(flat_index(
                op.output_arg.iter().map(|a| (a.name.as_str(), arity_of(a))),
                node,
                out_arg,
                k,
                &default,
            ));
        }
        let builtin = BUILTINS.iter().find(|b| b.op == node.op)?;
        let default = |attr: &str| builtin.defaults.iter().find(|(name, _)| *name == attr).map(|(_, d)| d.value());
        Some(flat_index(
            builtin.outputs.iter().map(|(name, arity)| (*name, arity.to_owned_arity())),
            node,
            out_arg,
            k,
            &default,
        ))
    }

    /// Adds the attributes `node` lacks that its OpDef gives a default for.
    pub fn restore_defaults(&self, node: &mut NodeDef) {
        if let Some(op) = self.saved.get(node.op.as_str()) {
            for attr in &op.attr {
                if let Some(default) = &attr.default_value {
                    node.attr.entry(attr.name.clone()).or_insert_with(|| default.clone());
                }
            }
            return;
        }
        if let Some(builtin) = BUILTINS.iter().find(|b| b.op == node.op) {
            for (name, default) in builtin.defaults {
                node.attr.entry(name.to_string()).or_insert_with(|| default.value());
            }
        }
    }
}

/// An output argument's arity with owned attribute names.
enum OwnedArity<'s> {
    One,
    Number(&'s str),
    TypeList(&'s str),
}

impl Arity {
    fn to_owned_arity(self) -> OwnedArity<'static> {
        match self {
            Arity::One => OwnedArity::One,
            Arity::Number(a) => OwnedArity::Number(a),
            Arity::TypeList(a) => OwnedArity::TypeList(a),
        }
    }
}

fn arity_of(arg: &ArgDef) -> OwnedArity<'_> {
    if !arg.number_attr.is_empty() {
        OwnedArity::Number(&arg.number_attr)
    } else if !arg.type_list_attr.is_empty() {
        OwnedArity::TypeList(&arg.type_list_attr)
    } else {
        OwnedArity::One
    }
}

/// The flat index of `out_arg:k`; list sizes come from the node's attributes, or from the
/// OpDef's defaults when TF stripped them.
fn flat_index<'s>(
    args: impl Iterator<Item = (&'s str, OwnedArity<'s>)>,
    node: &NodeDef,
    out_arg: &str,
    k: usize,
    default: &dyn Fn(&str) -> Option<AttrValue>,
) -> Result<usize, String> {
    let attr_of =
        |attr: &str| node.attr.get(attr).and_then(|a| a.value.clone()).or_else(|| default(attr).and_then(|a| a.value));
    let mut offset = 0usize;
    for (name, arity) in args {
        let count = match arity {
            OwnedArity::One => 1,
            OwnedArity::Number(attr) => match attr_of(attr) {
                Some(attr_value::Value::I(n)) => {
                    usize::try_from(n).map_err(|_| format!("attribute '{attr}' is {n}"))?
                }
                _ => return Err(format!("attribute '{attr}' (the size of output '{name}') is missing")),
            },
            OwnedArity::TypeList(attr) => match attr_of(attr) {
                Some(attr_value::Value::List(list)) => list.r#type.len(),
                _ => return Err(format!("attribute '{attr}' (the types of output '{name}') is missing")),
            },
        };
        if name == out_arg {
            return if k < count {
                Ok(offset + k)
            } else {
                Err(format!("output '{out_arg}:{k}' is out of range ({count} tensors)"))
            };
        }
        offset = offset.saturating_add(count);
    }
    Err(format!("op {} has no output argument '{out_arg}'", node.op))
}

impl AttrDefault {
    fn value(self) -> AttrValue {
        let value = match self {
            AttrDefault::S(s) => attr_value::Value::S(s.as_bytes().to_vec()),
            AttrDefault::I(i) => attr_value::Value::I(i),
            AttrDefault::F(f) => attr_value::Value::F(f),
            AttrDefault::B(b) => attr_value::Value::B(b),
            AttrDefault::T(t) => attr_value::Value::Type(t),
            AttrDefault::Ints(values) => {
                attr_value::Value::List(attr_value::ListValue { i: values.to_vec(), ..Default::default() })
            }
        };
        AttrValue { value: Some(value) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::NodeExt;

    fn node(op: &str) -> NodeDef {
        NodeDef { name: "n".into(), op: op.into(), ..Default::default() }
    }

    #[test]
    fn builtin_outputs_and_defaults() {
        let registry = OpRegistry::new(&[]);
        assert_eq!(registry.flat_output(&node("FusedBatchNormV3"), "batch_variance", 0), Some(Ok(2)));
        assert!(registry.flat_output(&node("FusedBatchNormV3"), "nope", 0).unwrap().is_err());
        assert!(registry.flat_output(&node("MysteryOp"), "output", 0).is_none());
        let mut split = node("Split");
        split.attr.insert("num_split".into(), AttrValue { value: Some(attr_value::Value::I(3)) });
        assert_eq!(registry.flat_output(&split, "output", 2), Some(Ok(2)));
        assert!(registry.flat_output(&split, "output", 3).unwrap().is_err());
        let mut bn = node("FusedBatchNormV3");
        registry.restore_defaults(&mut bn);
        assert_eq!(bn.attr_float_opt("epsilon").unwrap(), Some(1e-4));
        assert_eq!(bn.attr_bool_opt("is_training").unwrap(), Some(true));
        let mut conv = node("Conv2D");
        registry.restore_defaults(&mut conv);
        assert_eq!(conv.attr_ints("dilations").unwrap(), vec![1, 1, 1, 1]);
    }

    #[test]
    fn saved_opdefs_win() {
        let op = OpDef {
            name: "Pair".into(),
            output_arg: vec![
                ArgDef { name: "many".into(), number_attr: "N".into(), ..Default::default() },
                ArgDef { name: "last".into(), ..Default::default() },
            ],
            attr: vec![crate::pb::op_def::AttrDef {
                name: "N".into(),
                default_value: Some(AttrValue { value: Some(attr_value::Value::I(2)) }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let ops = [op];
        let registry = OpRegistry::new(&ops);
        let mut pair = node("Pair");
        // N stripped as a default: the OpDef's default (2) sizes the list.
        assert_eq!(registry.flat_output(&pair, "last", 0), Some(Ok(2)));
        pair.attr.insert("N".into(), AttrValue { value: Some(attr_value::Value::I(3)) });
        assert_eq!(registry.flat_output(&pair, "last", 0), Some(Ok(3)));
        assert!(registry.flat_output(&pair, "nope", 0).unwrap().is_err());
        let mut bare = node("Pair");
        registry.restore_defaults(&mut bare);
        assert_eq!(bare.attr_int_opt("N").unwrap(), Some(2));
    }
}
