//! The oracle for graphs holding `While` loops, which tract cannot run (nor the `TensorList`
//! ops around them): the loop runs as written. tract runs every straight-line region of the
//! graph; the loop ops run here, on the host:
//! - `While`/`StatelessWhile`: the cond function, then the body function, each run (with
//!   tract, region by region, the same way) on the loop values until cond says stop;
//! - `TensorListReserve`, `TensorListFromTensor`, `TensorListGetItem`, `TensorListSetItem`,
//!   `TensorListStack`, `TensorListLength`: a list is a vector of tensors;
//! - TF1's `TensorArrayV3`, `TensorArrayScatterV3`, `TensorArrayReadV3`, `TensorArrayWriteV3`,
//!   `TensorArrayGatherV3`, `TensorArraySizeV3` (`tf.compat.v1.nn.dynamic_rnn`'s loop): TF
//!   orders the accesses to an array by its "flow" value, which each write returns and each
//!   access reads, so here the flow *is* the array's contents (a list as above) and the
//!   handle only says whether the array may grow;
//! - `Split`, `SplitV`, `Unpack`, `ReverseV2`, which Keras's loops use and tract-tensorflow
//!   lacks: slices of tract tensors.
//!
//! Nothing here knows which layer a loop computes: it is independent of the converter's
//! recognition of Keras RNN loops. The functions are the loader's frozen ones
//! ([`tf2h5_tf::LoopFunction`]). Each tract region is compiled once per input shapes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ndarray::ArrayD;
use tf2h5_tf::{LoopFunction, TensorRef};
use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::{attr_value, AttrValue, DataType, GraphDef, NodeDef};
use tract_tensorflow::tract_hir::infer::InferenceFact;

use super::{guard, placeholder_type, runnable, tensorflow_with_fixes};
use crate::VerifyError;

/// Most iterations of one loop run (Keras loops run once per time step).
const MAX_ITERATIONS: usize = 100_000;

/// A value while running: a tensor, or a `TensorList` or a TensorArray's flow (unset
/// elements are `None`), or a TensorArray's handle.
#[derive(Clone)]
enum Value {
    Tensor(Arc<Tensor>),
    List(Vec<Option<Arc<Tensor>>>),
    TensorArray { dynamic_size: bool },
}

/// One graph to run: the main graph or a loop function.
struct Graph {
    /// Names cached regions apart.
    key: String,
    nodes: Vec<NodeDef>,
    index: HashMap<String, usize>,
}

impl Graph {
    fn new(key: String, nodes: Vec<NodeDef>) -> Graph {
        let index = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        Graph { key, nodes, index }
    }

    fn node(&self, name: &str) -> Result<&NodeDef, VerifyError> {
        self.index.get(name).map(|&i| &self.nodes[i]).ok_or_else(|| oracle_error(format!("no node '{name}'")))
    }
}

fn oracle_error(message: impl Into<String>) -> VerifyError {
    VerifyError::Oracle(message.into())
}

/// The ops run on the host: the loop ops, and the ops Keras's loops use that tract-tensorflow
/// does not register (`Split`, `SplitV`, `Unpack`, `ReverseV2`).
fn is_host(op: &str) -> bool {
    // `Identity` too: a loop lowered to frames and raised back hands TensorLists on through one.
    matches!(op, "While" | "StatelessWhile" | "Split" | "SplitV" | "Unpack" | "ReverseV2" | "Identity")
        || op.starts_with("TensorList")
        || op.starts_with("TensorArray")
}

/// An integer attribute of `node`.
fn int_attr(node: &NodeDef, name: &str) -> Option<i64> {
    match node.attr.get(name).and_then(|a| a.value.as_ref()) {
        Some(attr_value::Value::I(i)) => Some(*i),
        _ => None,
    }
}

/// `axis` counted from the end when negative, checked against `rank`.
fn axis_of(axis: i64, rank: usize) -> Option<usize> {
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(axis).ok().filter(|&a| a < rank)
}

type Known = HashMap<TensorRef, Value>;

/// A TF graph with loops, run with tract between the loop ops.
pub struct LoopOracle {
    main: Graph,
    functions: HashMap<String, (Graph, LoopFunction)>,
    inputs: Vec<(String, DatumType)>,
    outputs: Vec<String>,
    compiled: Mutex<HashMap<String, Arc<TypedRunnableModel>>>,
}

impl LoopOracle {
    /// Prepares `graph` (pruned to what `outputs` need, its loop functions in its library)
    /// for the named inputs.
    pub fn new(graph: GraphDef, inputs: &[(String, Vec<usize>)], outputs: &[String]) -> Result<Self, VerifyError> {
        let input_types = inputs
            .iter()
            .map(|(name, _)| Ok((name.clone(), placeholder_type(&graph.node, name)?)))
            .collect::<Result<Vec<_>, VerifyError>>()?;
        let mut functions = HashMap::new();
        if let Some(library) = &graph.library {
            for function in &library.function {
                let Some(name) = function.signature.as_ref().map(|s| s.name.clone()) else { continue };
                let loop_function = tf2h5_tf::loop_function(&graph, &name).map_err(oracle_error)?;
                let body = Graph::new(format!("function {name}"), loop_function.nodes.clone());
                functions.insert(name, (body, loop_function));
            }
        }
        Ok(LoopOracle {
            main: Graph::new("main".into(), graph.node),
            functions,
            inputs: input_types,
            outputs: outputs.to_vec(),
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// Runs one set of inputs; returns one array per requested output.
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, VerifyError> {
        let mut known = Known::new();
        for ((name, datum_type), array) in self.inputs.iter().zip(inputs) {
            let tensor = Tensor::from(array.clone()).cast_to_dt(*datum_type).map_err(tract_error)?.into_owned();
            known.insert(TensorRef { node: name.clone(), output: 0 }, Value::Tensor(Arc::new(tensor)));
        }
        let targets: Vec<TensorRef> =
            self.outputs.iter().map(|name| TensorRef { node: name.clone(), output: 0 }).collect();
        self.ensure(&self.main, &mut known, &targets)?;
        targets
            .iter()
            .map(|target| match &known[target] {
                Value::Tensor(t) => Ok(t
                    .cast_to::<f32>()
                    .map_err(tract_error)?
                    .to_plain_array_view::<f32>()
                    .map_err(tract_error)?
                    .to_owned()),
                _ => Err(oracle_error(format!("output '{}' is a TensorList or TensorArray", target.node))),
            })
            .collect()
    }

    /// Computes `targets` in `graph`, from the values already `known`.
    fn ensure(&self, graph: &Graph, known: &mut Known, targets: &[TensorRef]) -> Result<(), VerifyError> {
        let mut on_tract = Vec::new();
        for target in targets {
            if known.contains_key(target) {
                continue;
            }
            let node = graph.node(&target.node)?;
            if is_host(&node.op) {
                self.run_host(graph, known, node)?;
                if !known.contains_key(target) {
                    return Err(oracle_error(format!(
                        "'{target}'{} reads an output node '{}' ({}) does not have",
                        in_function(graph),
                        node.name,
                        node.op
                    )));
                }
            } else if !on_tract.contains(target) {
                on_tract.push(target.clone());
            }
        }
        if on_tract.is_empty() {
            return Ok(());
        }
        // The straight-line region computing them, and the values it reads at its boundary.
        let mut region = HashSet::new();
        let mut boundary: Vec<TensorRef> = Vec::new();
        let mut stack: Vec<&str> = on_tract.iter().map(|t| t.node.as_str()).collect();
        while let Some(name) = stack.pop() {
            if !region.insert(name.to_string()) {
                continue;
            }
            let node = graph.node(name)?;
            for input in node.input.iter().filter_map(|i| TensorRef::parse(i)) {
                let producer = graph.node(&input.node)?;
                if known.contains_key(&input) || is_host(&producer.op) {
                    if !boundary.contains(&input) {
                        boundary.push(input);
                    }
                } else if !region.contains(&input.node) {
                    stack.push(&producer.name);
                }
            }
        }
        let missing: Vec<TensorRef> = boundary.iter().filter(|b| !known.contains_key(*b)).cloned().collect();
        self.ensure(graph, known, &missing)?;
        let fed = boundary
            .iter()
            .map(|b| match &known[b] {
                Value::Tensor(t) => Ok(t.clone()),
                _ => Err(oracle_error(format!(
                    "a TensorList or TensorArray ('{b}'{}) reaches an op that is not a loop op",
                    in_function(graph)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plan = self.region_plan(graph, &region, &boundary, &fed, &on_tract)?;
        let inputs: TVec<TValue> = fed.iter().map(|t| (**t).clone().into()).collect();
        let outputs = guard::contained(|| plan.run(inputs)).map_err(tract_error)?;
        for (target, value) in on_tract.into_iter().zip(outputs) {
            let mut tensor = value.into_tensor();
            // tract computes shapes as symbolic dimensions; TF's `Shape` gives int32.
            if tensor.datum_type() == DatumType::TDim {
                tensor = tensor.cast_to::<i32>().map_err(tract_error)?.into_owned();
            }
            known.insert(target, Value::Tensor(Arc::new(tensor)));
        }
        Ok(())
    }

    /// The compiled region computing `targets`, the `boundary` values fed as placeholders.
    fn region_plan(
        &self,
        graph: &Graph,
        region: &HashSet<String>,
        boundary: &[TensorRef],
        fed: &[Arc<Tensor>],
        targets: &[TensorRef],
    ) -> Result<Arc<TypedRunnableModel>, VerifyError> {
        let facts: Vec<String> = fed.iter().map(|t| format!("{:?}{:?}", t.datum_type(), t.shape())).collect();
        let key = format!("{}|{targets:?}|{boundary:?}|{facts:?}", graph.key);
        if let Some(plan) = self.compiled.lock().expect("not poisoned").get(&key) {
            return Ok(plan.clone());
        }
        let placeholder = |i: usize| format!("__oracle_input_{i}");
        let fed_as: HashMap<&TensorRef, String> =
            boundary.iter().enumerate().map(|(i, b)| (b, placeholder(i))).collect();
        let mut nodes = Vec::new();
        for (i, tensor) in fed.iter().enumerate() {
            let mut node = NodeDef { name: placeholder(i), op: "Placeholder".into(), ..Default::default() };
            let dtype = data_type(tensor.datum_type())?;
            node.attr.insert("dtype".into(), AttrValue { value: Some(attr_value::Value::Type(dtype as i32)) });
            nodes.push(node);
        }
        for node in graph.nodes.iter().filter(|n| region.contains(&n.name)) {
            let mut node = node.clone();
            node.input = node
                .input
                .iter()
                .filter(|i| !i.starts_with('^'))
                .map(|i| match TensorRef::parse(i).and_then(|r| fed_as.get(&r).cloned()) {
                    Some(name) => name,
                    None => i.clone(),
                })
                .collect();
            nodes.push(node);
        }
        let output = |i: usize| format!("__oracle_output_{i}");
        for (i, target) in targets.iter().enumerate() {
            nodes.push(NodeDef {
                name: output(i),
                op: "Identity".into(),
                input: vec![target.to_string()],
                ..Default::default()
            });
        }
        let mut proto = GraphDef { node: nodes, ..Default::default() };
        super::expand_splat_constants(&mut proto);
        let tf = tensorflow_with_fixes();
        let mut model = guard::contained(|| tf.model_for_proto_model(&proto)).map_err(tract_error)?;
        let names: Vec<String> = (0..fed.len()).map(placeholder).collect();
        model.set_input_names(&names).map_err(tract_error)?;
        for (i, tensor) in fed.iter().enumerate() {
            model
                .set_input_fact(i, InferenceFact::dt_shape(tensor.datum_type(), tensor.shape()))
                .map_err(tract_error)?;
        }
        let outputs: Vec<String> = (0..targets.len()).map(output).collect();
        model.select_outputs_by_name(&outputs).map_err(tract_error)?;
        let plan = runnable(model)?;
        self.compiled.lock().expect("not poisoned").insert(key, plan.clone());
        Ok(plan)
    }

    /// Runs a loop op on the host.
    fn run_host(&self, graph: &Graph, known: &mut Known, node: &NodeDef) -> Result<(), VerifyError> {
        let refs: Vec<TensorRef> = node.input.iter().filter_map(|i| TensorRef::parse(i)).collect();
        self.ensure(graph, known, &refs)?;
        let inputs: Vec<Value> = refs.iter().map(|r| known[r].clone()).collect();
        let fail = |message: String| {
            oracle_error(format!("node '{}' ({}){}: {message}", node.name, node.op, in_function(graph)))
        };
        let tensor = |i: usize| match inputs.get(i) {
            Some(Value::Tensor(t)) => Ok(t.clone()),
            _ => Err(fail(format!("input {i} is not a tensor"))),
        };
        let list = |i: usize| match inputs.get(i) {
            Some(Value::List(l)) => Ok(l.clone()),
            _ => Err(fail(format!("input {i} is not a TensorList"))),
        };
        let ints = |i: usize| -> Result<Vec<i64>, VerifyError> {
            let t = tensor(i)?.cast_to::<i64>().map_err(tract_error)?.into_owned();
            Ok(t.to_plain_array_view::<i64>().map_err(tract_error)?.iter().copied().collect())
        };
        let index = |i: usize| -> Result<usize, VerifyError> {
            let t = tensor(i)?;
            let value = t.cast_to_scalar::<i64>().map_err(|e| fail(format!("input {i}: {e:#}")))?;
            usize::try_from(value).map_err(|_| fail(format!("index {value} is negative")))
        };
        let indices = |i: usize| -> Result<Vec<usize>, VerifyError> {
            ints(i)?
                .into_iter()
                .map(|v| usize::try_from(v).map_err(|_| fail(format!("index {v} is negative"))))
                .collect()
        };
        let element = |items: &[Option<Arc<Tensor>>], i: usize| {
            items.get(i).cloned().flatten().ok_or_else(|| fail(format!("element {i} is not set")))
        };
        let dynamic_size = || match inputs.first() {
            Some(Value::TensorArray { dynamic_size }) => Ok(*dynamic_size),
            _ => Err(fail("input 0 is not a TensorArray handle".into())),
        };
        // Writes `item` at `i` of an array's flow, growing it when the array may grow.
        let write = |items: &mut Vec<Option<Arc<Tensor>>>, i: usize, item: Arc<Tensor>| {
            if i >= items.len() && dynamic_size()? {
                items.resize(i + 1, None);
            }
            let slot = items.get_mut(i).ok_or_else(|| fail(format!("index {i} is past the array's end")))?;
            *slot = Some(item);
            Ok::<_, VerifyError>(())
        };
        let outputs: Vec<Value> = match node.op.as_str() {
            "While" | "StatelessWhile" => self.run_loop(node, inputs).map_err(|e| match e {
                VerifyError::Oracle(m) => fail(m),
                other => other,
            })?,
            "Identity" => vec![inputs.first().cloned().ok_or_else(|| fail("no input".into()))?],
            "TensorListReserve" => vec![Value::List(vec![None; index(1)?])],
            "TensorListFromTensor" => {
                let t = tensor(0)?;
                let rows = t.shape().first().copied().ok_or_else(|| fail("a scalar cannot be unstacked".into()))?;
                let items =
                    (0..rows).map(|r| Ok(Some(Arc::new(item(&t, 0, r)?)))).collect::<Result<Vec<_>, VerifyError>>()?;
                vec![Value::List(items)]
            }
            "TensorListGetItem" => vec![Value::Tensor(element(&list(0)?, index(1)?)?)],
            "TensorListSetItem" => {
                let (mut items, i, item) = (list(0)?, index(1)?, tensor(2)?);
                let slot = items.get_mut(i).ok_or_else(|| fail(format!("index {i} is past the list's end")))?;
                *slot = Some(item);
                vec![Value::List(items)]
            }
            "TensorListStack" => {
                let items = list(0)?;
                vec![Value::Tensor(Arc::new(stack(&items, 0..items.len()).map_err(fail)?))]
            }
            "TensorArrayV3" => {
                let dynamic_size = matches!(
                    node.attr.get("dynamic_size").and_then(|a| a.value.as_ref()),
                    Some(attr_value::Value::B(true))
                );
                vec![Value::TensorArray { dynamic_size }, Value::List(vec![None; index(0)?])]
            }
            "TensorArrayScatterV3" => {
                let (at, value, mut items) = (indices(1)?, tensor(2)?, list(3)?);
                if value.shape().first() != Some(&at.len()) {
                    return Err(fail(format!("{} indices for a value of shape {:?}", at.len(), value.shape())));
                }
                for (row, i) in at.into_iter().enumerate() {
                    write(&mut items, i, Arc::new(item(&value, 0, row)?))?;
                }
                vec![Value::List(items)]
            }
            "TensorArrayReadV3" => vec![Value::Tensor(element(&list(2)?, index(1)?)?)],
            "TensorArrayWriteV3" => {
                let (i, item, mut items) = (index(1)?, tensor(2)?, list(3)?);
                write(&mut items, i, item)?;
                vec![Value::List(items)]
            }
            "TensorArrayGatherV3" => {
                let (at, items) = (indices(1)?, list(2)?);
                vec![Value::Tensor(Arc::new(stack(&items, at).map_err(fail)?))]
            }
            "TensorArraySizeV3" => vec![Value::Tensor(Arc::new(tensor0(list(1)?.len() as i32)))],
            "Split" => {
                let (axis, value) = (tensor(0)?.cast_to_scalar::<i64>().map_err(tract_error)?, tensor(1)?);
                let parts = int_attr(node, "num_split").and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
                let axis = axis_of(axis, value.rank()).ok_or_else(|| fail(format!("axis {axis} is out of range")))?;
                let size = value.shape()[axis];
                if parts == 0 || size % parts != 0 {
                    return Err(fail(format!("{size} cannot be split in {parts}")));
                }
                let step = size / parts;
                (0..parts)
                    .map(|k| {
                        Ok(Value::Tensor(Arc::new(value.slice(axis, k * step, (k + 1) * step).map_err(tract_error)?)))
                    })
                    .collect::<Result<_, VerifyError>>()?
            }
            "SplitV" => {
                let (value, axis) = (tensor(0)?, tensor(2)?.cast_to_scalar::<i64>().map_err(tract_error)?);
                let axis = axis_of(axis, value.rank()).ok_or_else(|| fail(format!("axis {axis} is out of range")))?;
                let sizes = ints(1)?;
                let size = value.shape()[axis] as i64;
                let known: i64 = sizes.iter().filter(|s| **s >= 0).sum();
                let inferred = sizes.iter().filter(|s| **s < 0).count();
                if inferred > 1 || known > size || (inferred == 0 && known != size) {
                    return Err(fail(format!("sizes {sizes:?} do not split {size}")));
                }
                let mut start = 0usize;
                sizes
                    .iter()
                    .map(|&s| {
                        let len = if s < 0 { (size - known) as usize } else { s as usize };
                        // tract slices no empty range; Keras's [u, u, -1] leaves one.
                        let part = if len == 0 {
                            let mut shape = value.shape().to_vec();
                            shape[axis] = 0;
                            Tensor::zero_dt(value.datum_type(), &shape).map_err(tract_error)?
                        } else {
                            value.slice(axis, start, start + len).map_err(tract_error)?
                        };
                        start += len;
                        Ok(Value::Tensor(Arc::new(part)))
                    })
                    .collect::<Result<_, VerifyError>>()?
            }
            "Unpack" => {
                let value = tensor(0)?;
                let axis = int_attr(node, "axis").unwrap_or(0);
                let axis = axis_of(axis, value.rank()).ok_or_else(|| fail(format!("axis {axis} is out of range")))?;
                (0..value.shape()[axis]).map(|k| Ok(Value::Tensor(Arc::new(item(&value, axis, k)?)))).collect::<Result<
                    _,
                    VerifyError,
                >>(
                )?
            }
            "ReverseV2" => {
                let mut value = (*tensor(0)?).clone();
                for axis in ints(1)? {
                    let axis =
                        axis_of(axis, value.rank()).ok_or_else(|| fail(format!("axis {axis} is out of range")))?;
                    let slices = (0..value.shape()[axis])
                        .rev()
                        .map(|k| value.slice(axis, k, k + 1))
                        .collect::<TractResult<Vec<Tensor>>>()
                        .map_err(tract_error)?;
                    value = Tensor::stack_tensors(axis, &slices).map_err(tract_error)?;
                }
                vec![Value::Tensor(Arc::new(value))]
            }
            "TensorListLength" => vec![Value::Tensor(Arc::new(tensor0(list(0)?.len() as i32)))],
            other => return Err(fail(format!("the oracle does not run {other}"))),
        };
        for (k, value) in outputs.into_iter().enumerate() {
            known.insert(TensorRef { node: node.name.clone(), output: k }, value);
        }
        Ok(())
    }

    /// A `While`: cond, then body, on the loop values until cond is false.
    fn run_loop(&self, node: &NodeDef, mut values: Vec<Value>) -> Result<Vec<Value>, VerifyError> {
        let function = |attr: &str| match node.attr.get(attr).and_then(|a| a.value.as_ref()) {
            Some(attr_value::Value::Func(f)) => self
                .functions
                .get(&f.name)
                .ok_or_else(|| oracle_error(format!("function '{}' is not in the graph's library", f.name))),
            _ => Err(oracle_error(format!("no '{attr}' function"))),
        };
        let (cond, body) = (function("cond")?, function("body")?);
        for _ in 0..MAX_ITERATIONS {
            let go = match self.call(cond, &values)?.first() {
                Some(Value::Tensor(t)) => t.cast_to_scalar::<bool>().map_err(tract_error)?,
                _ => return Err(oracle_error("the cond function returns no boolean")),
            };
            if !go {
                return Ok(values);
            }
            let next = self.call(body, &values)?;
            if next.len() != values.len() {
                return Err(oracle_error(format!(
                    "the body returns {} values for {} loop values",
                    next.len(),
                    values.len()
                )));
            }
            values = next;
        }
        Err(oracle_error(format!("the loop runs more than {MAX_ITERATIONS} iterations")))
    }

    /// Runs a loop function on `args`.
    fn call(&self, (graph, function): &(Graph, LoopFunction), args: &[Value]) -> Result<Vec<Value>, VerifyError> {
        if args.len() != function.inputs.len() {
            return Err(oracle_error(format!(
                "{} takes {} values, given {}",
                graph.key,
                function.inputs.len(),
                args.len()
            )));
        }
        let mut known: Known = function
            .inputs
            .iter()
            .zip(args)
            .map(|(name, value)| (TensorRef { node: name.clone(), output: 0 }, value.clone()))
            .collect();
        self.ensure(graph, &mut known, &function.outputs)?;
        Ok(function.outputs.iter().map(|r| known[r].clone()).collect())
    }
}

/// Element `k` of `value` along `axis` (the axis removed).
fn item(value: &Tensor, axis: usize, k: usize) -> Result<Tensor, VerifyError> {
    let mut item = value.slice(axis, k, k + 1).map_err(tract_error)?;
    item.remove_axis(axis).map_err(tract_error)?;
    Ok(item)
}

/// The elements `at` of a list, stacked on a new axis 0; `Err` says which is missing.
fn stack(items: &[Option<Arc<Tensor>>], at: impl IntoIterator<Item = usize>) -> Result<Tensor, String> {
    let tensors = at
        .into_iter()
        .map(|i| {
            let mut item = items.get(i).cloned().flatten().ok_or_else(|| format!("element {i} is not set"))?;
            Arc::make_mut(&mut item).insert_axis(0).map_err(|e| format!("{e:#}"))?;
            Ok(Arc::unwrap_or_clone(item))
        })
        .collect::<Result<Vec<Tensor>, String>>()?;
    if tensors.is_empty() {
        return Err("stacking no elements".into());
    }
    Tensor::stack_tensors(0, &tensors).map_err(|e| format!("{e:#}"))
}

fn in_function(graph: &Graph) -> String {
    if graph.key == "main" {
        String::new()
    } else {
        format!(" in {}", graph.key)
    }
}

fn tract_error(e: TractError) -> VerifyError {
    oracle_error(format!("{e:#}"))
}

/// The TF type of a tract datum type, for a placeholder.
fn data_type(datum_type: DatumType) -> Result<DataType, VerifyError> {
    Ok(match datum_type {
        DatumType::F32 => DataType::DtFloat,
        DatumType::F64 => DataType::DtDouble,
        DatumType::I32 => DataType::DtInt32,
        DatumType::I64 => DataType::DtInt64,
        DatumType::Bool => DataType::DtBool,
        DatumType::U8 => DataType::DtUint8,
        other => return Err(oracle_error(format!("a loop value of type {other:?} is not supported"))),
    })
}
