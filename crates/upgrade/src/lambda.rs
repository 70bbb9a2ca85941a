//! `Lambda` layers whose body is a chain of element-wise steps on its input (`x * c`, `x / c`,
//! `x + c`, `x - c`, `c - x`, `-x`, `tf.nn.relu(x)`, `tf.math.sigmoid(x)`, ...) → the standard
//! layers computing each step exactly; any other body is refused naming the layer.
//!
//! The body is matched symbolically: each tensor on the bytecode's stack is "the input after
//! these steps". This module never computes the body; the verification oracle runs the
//! bytecode as written, independently, and the two are compared.

use tf2h5_keras::{layers, Layer, LayerOutput};

use crate::pycode::{lambda_body, BinaryOp, Instruction, Local, PyObject};
use crate::rules::{is_power_of_two, unary_tf_function};

/// One exact element-wise step.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `x * scale + offset` in float32, as `Rescaling` computes it.
    Affine { scale: f32, offset: f32 },
    /// A one-tensor TF function, named after `tf.` (`nn.relu`).
    Function(String),
}

/// A value on the symbolic stack.
#[derive(Debug, Clone, PartialEq)]
enum Symbol {
    /// The NULL a call's callable sits above.
    Null,
    /// A Python number (computed by Python in double precision).
    Number(f64),
    /// A global or one of its attributes (`tf.nn.relu`).
    Name(String),
    /// The layer's input after these steps.
    Tensor(Vec<Step>),
}

/// The layers replacing the `Lambda` layer `name` reading `input` (the last one is named
/// `name` and carries its output), and a description of the body for the log. The error says
/// why the body has no exact standard form.
pub fn lambda_layers(
    name: &str,
    config: &serde_json::Map<String, serde_json::Value>,
    input: String,
) -> Result<(Vec<Layer>, String), String> {
    let steps = match_body(config)?;
    let mut emitted: Vec<Layer> = Vec::new();
    let mut described = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        let layer_name = if k + 1 == steps.len() { name.to_string() } else { format!("{name}_{}", k + 1) };
        let previous = LayerOutput::from(emitted.last().map(|l| l.name.clone()).unwrap_or_else(|| input.clone()));
        let layer = match step {
            Step::Affine { scale, offset } => {
                described.push(format!("Rescaling({scale}, {offset})"));
                layers::rescaling(&layer_name, previous, &[*scale], &[*offset])
            }
            Step::Function(function) => {
                let layer = unary_tf_function(function, &layer_name, previous)
                    .ok_or_else(|| format!("tf.{function} has no exact standard Keras layer"))?;
                described.push(format!("tf.{function} → {}", layer.class_name));
                layer
            }
        };
        emitted.push(layer);
    }
    if emitted.is_empty() {
        described.push("identity → Activation('linear')".into());
        emitted.push(layers::activation(name, input.into(), "linear"));
    }
    Ok((emitted, described.join(", ")))
}

/// Runs the body on symbols; the returned value must be the input after some steps.
fn match_body(config: &serde_json::Map<String, serde_json::Value>) -> Result<Vec<Step>, String> {
    let body = lambda_body(config)?;
    let code = &body.code;
    let mut stack: Vec<Symbol> = Vec::new();
    let mut keywords = 0;
    let pop = |stack: &mut Vec<Symbol>| stack.pop().ok_or_else(|| "the body's stack underflows".to_string());
    let name_at = |i: usize| code.names.get(i).cloned().ok_or_else(|| format!("name index {i} out of range"));
    for (at, instruction) in body.instructions.iter().enumerate() {
        match *instruction {
            Instruction::LoadFast(slot) | Instruction::LoadDeref(slot) => stack.push(match body.locals.get(slot) {
                Some(Local::Input) => Symbol::Tensor(vec![]),
                Some(Local::Number(n)) => Symbol::Number(*n),
                _ => return Err("the body reads a local it assigns".into()),
            }),
            Instruction::LoadConst(i) => stack.push(match code.consts.get(i) {
                Some(PyObject::Float(f)) => Symbol::Number(*f),
                Some(PyObject::Int(n)) => Symbol::Number(*n as f64),
                other => return Err(format!("the constant {other:?} is not a number")),
            }),
            Instruction::LoadGlobal { name, push_null } => {
                if push_null {
                    stack.push(Symbol::Null);
                }
                stack.push(Symbol::Name(name_at(name)?));
            }
            Instruction::LoadAttr(i) | Instruction::LoadMethod(i) => {
                let Symbol::Name(path) = pop(&mut stack)? else {
                    return Err(format!("the body reads the attribute '{}' of a value", name_at(i)?));
                };
                if matches!(instruction, Instruction::LoadMethod(_)) {
                    stack.push(Symbol::Null);
                }
                stack.push(Symbol::Name(format!("{path}.{}", name_at(i)?)));
            }
            Instruction::PushNull => stack.push(Symbol::Null),
            Instruction::KwNames(i) => {
                keywords = match code.consts.get(i) {
                    Some(PyObject::Tuple(names)) => names.len(),
                    _ => return Err("bad keyword names".into()),
                }
            }
            Instruction::Call(count) => {
                if keywords > 0 {
                    return Err("the body calls a function with keyword arguments".into());
                }
                let argument = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let (Symbol::Tensor(mut steps), 1, Symbol::Name(path), Symbol::Null) =
                    (argument, count, callable, pop(&mut stack)?)
                else {
                    return Err("the body calls something other than a function of the input alone".into());
                };
                let function =
                    path.strip_prefix("tf.").ok_or_else(|| format!("{path} is not a TensorFlow function"))?;
                if unary_tf_function(function, "", String::new().into()).is_none() {
                    return Err(format!("tf.{function} has no exact standard Keras layer"));
                }
                steps.push(Step::Function(function.to_string()));
                stack.push(Symbol::Tensor(steps));
            }
            Instruction::Negative => match pop(&mut stack)? {
                Symbol::Number(n) => stack.push(Symbol::Number(-n)),
                Symbol::Tensor(steps) => stack.push(Symbol::Tensor(affine(steps, -1.0, 0.0))),
                _ => return Err("the body negates a function".into()),
            },
            Instruction::Binary(op) => {
                let b = pop(&mut stack)?;
                let a = pop(&mut stack)?;
                stack.push(binary(op, a, b)?);
            }
            Instruction::Return => {
                if at + 1 != body.instructions.len() || stack.len() != 1 {
                    return Err("the body has more than one expression".into());
                }
                return match pop(&mut stack)? {
                    Symbol::Tensor(steps) => Ok(steps),
                    _ => Err("the body does not return a function of its input".into()),
                };
            }
        }
    }
    Err("the body does not return".into())
}

/// `a op b` with at most one tensor operand.
fn binary(op: BinaryOp, a: Symbol, b: Symbol) -> Result<Symbol, String> {
    use BinaryOp::*;
    use Symbol::{Number, Tensor};
    Ok(match (op, a, b) {
        // Python folds numbers in double precision before TF sees them.
        (Add, Number(a), Number(b)) => Number(a + b),
        (Subtract, Number(a), Number(b)) => Number(a - b),
        (Multiply, Number(a), Number(b)) => Number(a * b),
        (TrueDivide, Number(a), Number(b)) if b != 0.0 => Number(a / b),
        (Power, Number(a), Number(b)) => Number(a.powf(b)),
        // TF converts the number to a float32 constant.
        (Multiply, Tensor(s), Number(c)) | (Multiply, Number(c), Tensor(s)) => Tensor(affine(s, c as f32, 0.0)),
        (Add, Tensor(s), Number(c)) | (Add, Number(c), Tensor(s)) => Tensor(affine(s, 1.0, c as f32)),
        (Subtract, Tensor(s), Number(c)) => Tensor(affine(s, 1.0, -(c as f32))),
        // c - x = (-1)·x + c: the negation is exact, the sum rounds once, as the difference does.
        (Subtract, Number(c), Tensor(s)) => Tensor(affine(s, -1.0, c as f32)),
        // x / c = x · (1/c) exactly only when 1/c is exact: a power of two.
        (TrueDivide, Tensor(s), Number(c)) if is_power_of_two(c as f32) => Tensor(affine(s, 1.0 / c as f32, 0.0)),
        (op, a, b) => {
            let show = |s: &Symbol| match s {
                Tensor(_) => "a tensor".to_string(),
                Number(n) => n.to_string(),
                other => format!("{other:?}"),
            };
            return Err(format!("{} {op:?} {} has no exact standard Keras layer", show(&a), show(&b)));
        }
    })
}

/// Appends `x · scale + offset`, fused with a preceding pure scaling when `offset` follows it
/// (`x * a + b` is one `Rescaling`: the same two float32 operations).
fn affine(mut steps: Vec<Step>, scale: f32, offset: f32) -> Vec<Step> {
    match steps.last_mut() {
        Some(Step::Affine { offset: previous @ 0.0, .. }) if scale == 1.0 => *previous = offset,
        _ => steps.push(Step::Affine { scale, offset }),
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn affine_steps_fuse_only_when_exact() {
        let scaled = affine(vec![], 2.0, 0.0);
        assert_eq!(affine(scaled.clone(), 1.0, 1.0), [Step::Affine { scale: 2.0, offset: 1.0 }]);
        // (x + 1) * 2 is not x * 2 + 1 exactly: two layers.
        let shifted = affine(vec![], 1.0, 1.0);
        assert_eq!(affine(shifted, 2.0, 0.0).len(), 2);
    }

    #[test]
    fn numbers_fold_and_inexact_divisions_are_refused() {
        let tensor = Symbol::Tensor(vec![]);
        let half = binary(BinaryOp::TrueDivide, Symbol::Number(1.0), Symbol::Number(2.0)).unwrap();
        assert_eq!(half, Symbol::Number(0.5));
        assert_eq!(
            binary(BinaryOp::TrueDivide, tensor.clone(), Symbol::Number(4.0)).unwrap(),
            Symbol::Tensor(vec![Step::Affine { scale: 0.25, offset: 0.0 }])
        );
        assert!(binary(BinaryOp::TrueDivide, tensor.clone(), Symbol::Number(3.0)).is_err());
        assert!(binary(BinaryOp::Multiply, tensor.clone(), tensor.clone()).is_err(), "x * x is not a chain");
        assert!(binary(BinaryOp::Power, tensor, Symbol::Number(2.0)).is_err());
    }

    #[test]
    fn a_saved_scale_and_shift_becomes_one_rescaling() {
        // `lambda t: t * 2.0 + 1.0` saved by tf-keras 2.21 under CPython 3.11.
        let code = "4wEAAAAAAAAAAAAAAAIAAAATAAAA8xIAAACXAHwAZAF6BQAAZAJ6AAAAUwApA07nAAAAAAAAAEDn\nAAAAAAAA8D+pACkB2gF0cwEAAAAg+isvd29yay93dC91cGdyYWRlL3Rlc3QtbW9kZWxzL2dlbmVy\nYXRlX2g1LnB5+gg8bGFtYmRhPvoZcmVmdXNlZC48bG9jYWxzPi48bGFtYmRhPvoAAABzDgAAAIAA\noGGoI6FnsAOhbYAA8wAAAAA=\n";
        let config = json!({"function": [code, null, null], "function_type": "lambda", "arguments": {}});
        let (emitted, described) = lambda_layers("scale_shift", config.as_object().unwrap(), "d".into()).unwrap();
        assert_eq!(emitted.len(), 1);
        assert_eq!(
            (emitted[0].class_name.as_str(), emitted[0].inbound.as_slice()),
            ("Rescaling", &[LayerOutput::from("d")][..])
        );
        assert_eq!((&emitted[0].config["scale"], &emitted[0].config["offset"]), (&json!(2.0), &json!(1.0)));
        assert_eq!(described, "Rescaling(2, 1)");
    }
}
