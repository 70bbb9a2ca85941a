//! While loops: a `While`/`StatelessWhile` stays a node, and its `body` and `cond` functions
//! are frozen into the graph's library in *graph form*, which the converter and the oracle
//! read with [`crate::function_graph`]: each function's `node_def` holds one `Placeholder`
//! per input argument (named after it) and flat GraphDef-style inputs (`node`, `node:k`),
//! and its `ret` map names GraphDef-style tensors. Inside, calls are inlined and variable
//! reads become checkpoint constants, as in the main graph.
//!
//! A loop that captures variables (the generic Keras RNN loop reads its cell's weights in
//! the body) passes their resource handles around as loop values; those positions are
//! dropped from the loop, its functions read the constants directly, and the loop's outputs
//! there stay the variables.

use std::collections::HashMap;

use super::freezer::{Freezer, NodeOut, Scope, Src};
use super::refs::tensor_name;
use crate::pb::{self, attr_value::Value, AttrValue, FunctionDef, NodeDef, OpDef};
use crate::TfError;

impl<'a> Freezer<'a> {
    /// Keeps the loop `node` (its inputs resolved to `inputs`) with frozen functions.
    pub(super) fn freeze_loop(
        &mut self,
        scope: &Scope<'a>,
        node: &'a NodeDef,
        inputs: Vec<Src>,
    ) -> Result<NodeOut, TfError> {
        let function = |attr: &str| match node.attr.get(attr).and_then(|a| a.value.as_ref()) {
            Some(Value::Func(f)) => Ok(f.name.clone()),
            _ => Err(self.node_error(scope, node, format!("has no '{attr}' function"))),
        };
        let (body, cond) = (function("body")?, function("cond")?);
        let body = self.freeze_function(scope, node, &body, &inputs, true)?;
        let cond = self.freeze_function(scope, node, &cond, &inputs, false)?;
        let kept: Vec<bool> = inputs.iter().map(|s| matches!(s, Src::Tensor(..))).collect();
        let keep = |list: &pb::attr_value::ListValue| -> pb::attr_value::ListValue {
            let mut list = list.clone();
            if list.r#type.len() == kept.len() {
                list.r#type = list.r#type.iter().zip(&kept).filter(|(_, k)| **k).map(|(t, _)| *t).collect();
            }
            if list.shape.len() == kept.len() {
                list.shape = list.shape.iter().zip(&kept).filter(|(_, k)| **k).map(|(s, _)| s.clone()).collect();
            }
            list
        };
        let data = inputs
            .iter()
            .filter_map(|s| match s {
                Src::Tensor(name, k) => Some(tensor_name(name, *k)),
                Src::Var(_) => None,
            })
            .collect();
        let emitted = self.emit(scope, node, node.op.clone(), data, |n| {
            for attr in ["T", "output_shapes"] {
                if let Some(AttrValue { value: Some(Value::List(list)) }) = n.attr.get(attr) {
                    let list = keep(list);
                    n.attr.insert(attr.into(), AttrValue { value: Some(Value::List(list)) });
                }
            }
            for (attr, name) in [("body", body), ("cond", cond)] {
                let func = pb::NameAttrList { name, attr: HashMap::new() };
                n.attr.insert(attr.into(), AttrValue { value: Some(Value::Func(func)) });
            }
        })?;
        let NodeOut::Emitted(name) = emitted else { unreachable!("emit returns the emitted node") };
        let mut k = 0;
        let outputs = inputs
            .into_iter()
            .map(|s| match s {
                Src::Tensor(..) => {
                    k += 1;
                    Src::Tensor(name.clone(), k - 1)
                }
                var => var,
            })
            .collect();
        Ok(NodeOut::Values(outputs))
    }

    /// Freezes function `name` called by loop `node` with `inputs` into the library, in
    /// graph form; returns its name there. A body must return each captured variable
    /// unchanged; a cond returns one tensor.
    fn freeze_function(
        &mut self,
        scope: &Scope<'a>,
        node: &'a NodeDef,
        name: &str,
        inputs: &[Src],
        is_body: bool,
    ) -> Result<String, TfError> {
        let (function, _) = self.callee(scope, node, name, inputs.len())?;
        // The function's nodes go to a fresh output, named in their own namespace.
        let outer =
            (std::mem::take(&mut self.out), std::mem::take(&mut self.names), std::mem::take(&mut self.var_consts));
        let frozen = self.freeze_body(scope, node, function, name, inputs, is_body);
        let (out, names, var_consts) = outer;
        self.out = out;
        self.names = names;
        self.var_consts = var_consts;
        let mut frozen = frozen?;
        let mut unique = name.to_string();
        let mut n = 1;
        while self.frozen_functions.iter().any(|f| f.signature.as_ref().is_some_and(|s| s.name == unique)) {
            unique = format!("{name}_{n}");
            n += 1;
        }
        if let Some(signature) = frozen.signature.as_mut() {
            signature.name = unique.clone();
        }
        self.frozen_functions.push(frozen);
        Ok(unique)
    }

    fn freeze_body(
        &mut self,
        scope: &Scope<'a>,
        node: &'a NodeDef,
        function: &'a FunctionDef,
        name: &str,
        inputs: &[Src],
        is_body: bool,
    ) -> Result<FunctionDef, TfError> {
        let signature = function.signature.as_ref().expect("checked by the caller");
        let mut args = HashMap::new();
        let mut input_arg = Vec::new();
        for (arg, src) in signature.input_arg.iter().zip(inputs) {
            if let Src::Tensor(..) = src {
                let mut placeholder =
                    NodeDef { name: arg.name.clone(), op: "Placeholder".into(), ..Default::default() };
                placeholder.attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(arg.r#type)) });
                self.names.insert(arg.name.clone());
                self.out.push(placeholder);
                input_arg.push(arg.clone());
                args.insert(arg.name.as_str(), Src::Tensor(arg.name.clone(), 0));
            } else {
                args.insert(arg.name.as_str(), src.clone());
            }
        }
        let mut inner = Scope {
            function: Some(function),
            nodes: function.node_def.iter().map(|n| (n.name.as_str(), n)).collect(),
            args,
            prefix: String::new(),
            overrides: HashMap::new(),
            values: HashMap::new(),
        };
        let roots = self.function_roots(&inner, function, name)?;
        self.depth += 1;
        let outputs = self.run(&mut inner, &roots);
        self.depth -= 1;
        let outputs = outputs?;
        let mut ret = HashMap::new();
        let mut output_arg = Vec::new();
        for (i, (arg, src)) in signature.output_arg.iter().zip(outputs).enumerate() {
            let captured = match (is_body, inputs.get(i)) {
                (true, Some(Src::Var(var))) => Some(var),
                _ => None,
            };
            match (src, captured) {
                (Src::Tensor(tensor, k), None) => {
                    ret.insert(arg.name.clone(), tensor_name(&tensor, k));
                    output_arg.push(arg.clone());
                }
                (Src::Var(out), Some(var)) if out.key == var.key => {}
                _ => {
                    return Err(self.node_error(
                        scope,
                        node,
                        format!("loop function '{name}' output '{}' changes a captured variable", arg.name),
                    ))
                }
            }
        }
        let roots: Vec<String> = ret.values().map(|r| r.split(':').next().unwrap_or(r).to_string()).collect();
        let placeholders: Vec<String> = input_arg.iter().map(|a| a.name.clone()).collect();
        let keep = self.prune(roots.iter().chain(&placeholders).map(String::as_str));
        self.fill_variables(&keep)?;
        let nodes = std::mem::take(&mut self.out);
        let node_def = nodes.into_iter().zip(keep).filter_map(|(node, keep)| keep.then_some(node)).collect();
        let signature = OpDef { name: name.to_string(), input_arg, output_arg, ..Default::default() };
        Ok(FunctionDef { signature: Some(signature), node_def, ret, ..Default::default() })
    }
}
