//! Half-precision sources (Keras's `mixed_float16` policy): the graph computes in float16 and
//! tract runs it so, op by op, except `FusedBatchNorm*`, which tract reads in float32 only.
//! TF's kernel for `T = half` normalises in its `U` type (float32) and rounds the result to
//! half; the oracle writes exactly that out: a `Cast` to float, the batch norm in float, and a
//! `Cast` back to half under the node's own name.

use tract_tensorflow::tfpb::tensorflow::{attr_value, AttrValue, DataType, GraphDef, NodeDef};

/// Whether any op of `graph` computes in a half-precision type (float16 or bfloat16).
pub fn computes_in_half(graph: &GraphDef) -> bool {
    graph.node.iter().any(|node| {
        ["T", "DstT"].iter().any(|key| {
            matches!(
                node.attr.get(*key).and_then(|a| a.value.as_ref()),
                Some(attr_value::Value::Type(t)) if *t == DataType::DtHalf as i32 || *t == DataType::DtBfloat16 as i32
            )
        })
    })
}

/// Rewrites every float16 `FusedBatchNorm*` of `graph` whose only read output is the
/// normalised tensor into `Cast` → batch norm in float32 → `Cast`, as TF computes it.
pub(crate) fn batch_norm_in_float(graph: &mut GraphDef) {
    let half = DataType::DtHalf as i32;
    let type_attr = |t: DataType| AttrValue { value: Some(attr_value::Value::Type(t as i32)) };
    let cast = |name: String, input: String, from: DataType, to: DataType| NodeDef {
        name,
        op: "Cast".into(),
        input: vec![input],
        attr: [("SrcT".to_string(), type_attr(from)), ("DstT".to_string(), type_attr(to))].into(),
        ..Default::default()
    };
    let reads_statistics = |name: &str| {
        let prefix = format!("{name}:");
        graph.node.iter().flat_map(|n| &n.input).any(|i| i.strip_prefix(&prefix).is_some_and(|k| k != "0"))
    };
    let targets: Vec<usize> = (0..graph.node.len())
        .filter(|&i| {
            let node = &graph.node[i];
            node.op.starts_with("FusedBatchNorm")
                && matches!(node.attr.get("T").and_then(|a| a.value.as_ref()), Some(attr_value::Value::Type(t)) if *t == half)
                && !node.input.is_empty()
                && !reads_statistics(&node.name)
        })
        .collect();
    for index in targets {
        let node = &mut graph.node[index];
        let name = node.name.clone();
        let (in_float, x_in_float) = (format!("{name}/tf2h5_in_float"), format!("{name}/tf2h5_x_in_float"));
        let x = std::mem::replace(&mut node.input[0], x_in_float.clone());
        node.name = in_float.clone();
        node.attr.insert("T".into(), type_attr(DataType::DtFloat));
        graph.node.push(cast(x_in_float, x, DataType::DtHalf, DataType::DtFloat));
        graph.node.push(cast(name, in_float, DataType::DtFloat, DataType::DtHalf));
    }
}
