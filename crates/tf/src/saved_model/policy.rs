//! Which ops the freezer inlines (calls) and which it refuses (control flow, variable
//! writes, lookup tables), with the reason it gives.

use crate::pb::{attr_value::Value, NodeDef};

pub(super) fn is_call(op: &str) -> bool {
    matches!(op, "PartitionedCall" | "StatefulPartitionedCall")
}

fn is_control_flow(op: &str) -> bool {
    matches!(
        op,
        "If" | "StatelessIf"
            | "While"
            | "StatelessWhile"
            | "Case"
            | "StatelessCase"
            | "Switch"
            | "RefSwitch"
            | "Merge"
            | "RefMerge"
            | "Enter"
            | "RefEnter"
            | "Exit"
            | "RefExit"
            | "NextIteration"
            | "RefNextIteration"
            | "LoopCond"
    )
}

fn is_write(op: &str) -> bool {
    op.starts_with("Assign")
        || op.starts_with("ResourceApply")
        || op.starts_with("ResourceSparseApply")
        || op.starts_with("ResourceScatter")
        || op.starts_with("Apply")
        || op.starts_with("SparseApply")
        || op.ends_with("StridedSliceAssign")
        || matches!(
            op,
            "ScatterUpdate"
                | "ScatterAdd"
                | "ScatterSub"
                | "ScatterMul"
                | "ScatterDiv"
                | "ScatterMin"
                | "ScatterMax"
                | "ScatterNdUpdate"
                | "ScatterNdAdd"
                | "ScatterNdSub"
                | "DestroyResourceOp"
                | "CountUpTo"
                | "ResourceCountUpTo"
        )
}

fn is_table(op: &str) -> bool {
    op.contains("HashTable") || op.starts_with("LookupTable") || op.starts_with("InitializeTable")
}

/// Why `op` cannot be frozen, if it cannot.
pub(super) fn refusal(op: &str) -> Option<String> {
    if matches!(op, "While" | "StatelessWhile") {
        // Kept, with frozen functions (loops.rs): the converter and the oracle take them.
        None
    } else if crate::loops::is_frame_op(op) {
        Some(format!("a TF1 while-loop frame op {}", crate::loops::NOT_CONVERTED))
    } else if is_control_flow(op) {
        Some("control flow is not supported (only straight-line inference graphs can be converted)".into())
    } else if is_write(op) {
        Some("writes a variable; only inference graphs that read their variables can be frozen".into())
    } else if is_table(op) {
        Some("uses a lookup table (a resource other than a variable), which is not supported".into())
    } else {
        None
    }
}

/// The function a call node invokes (`f` attribute of (Stateful)PartitionedCall).
pub(super) fn call_target(node: &NodeDef) -> Option<&str> {
    if !is_call(&node.op) {
        return None;
    }
    match node.attr.get("f").and_then(|a| a.value.as_ref()) {
        Some(Value::Func(f)) => Some(f.name.as_str()),
        _ => None,
    }
}
