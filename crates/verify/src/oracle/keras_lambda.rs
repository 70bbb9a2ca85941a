//! The oracle of a Keras `Lambda` layer: its CPython 3.11 bytecode (decoded by
//! `tf2h5_upgrade::pycode`) run as written, on concrete values: tensors in float32 as TF
//! computes them, Python numbers in double precision until TF converts them. It shares nothing
//! with the rewrite's pattern matcher (`tf2h5_upgrade::lambda`), which it checks.

use ndarray::ArrayD;
use tf2h5_upgrade::pycode::{lambda_body, BinaryOp, Instruction, Local, PyObject};
use tf2h5_upgrade::LegacyLayer;

use super::keras_source::{elementwise, oracle_error, tf_function, Operand};
use crate::VerifyError;

/// A value on the interpreter's stack.
#[derive(Clone)]
enum PyValue {
    /// The NULL below a called function.
    Null,
    /// A Python int or float.
    Number(f64),
    /// A global or an attribute path of one (`tf.nn.relu`).
    Name(String),
    /// A float32 tensor.
    Tensor(ArrayD<f32>),
}

/// The layer's output for the input `x`.
pub fn run_lambda(layer: &LegacyLayer, x: &ArrayD<f32>) -> Result<ArrayD<f32>, VerifyError> {
    let fail = |message: String| oracle_error(&layer.name, &message);
    let body = lambda_body(&layer.config).map_err(fail)?;
    let code = &body.code;
    let name = |i: usize| code.names.get(i).cloned().ok_or_else(|| fail(format!("no name {i}")));
    let mut stack: Vec<PyValue> = Vec::new();
    let mut keyword_names: Vec<PyObject> = Vec::new();
    for instruction in &body.instructions {
        let mut pop = || stack.pop().ok_or_else(|| fail("stack underflow".into()));
        let value = match *instruction {
            Instruction::LoadFast(slot) | Instruction::LoadDeref(slot) => match body.locals.get(slot) {
                Some(Local::Input) => PyValue::Tensor(x.clone()),
                Some(Local::Number(n)) => PyValue::Number(*n),
                _ => return Err(fail(format!("local {slot} is unbound"))),
            },
            Instruction::LoadConst(i) => match code.consts.get(i) {
                Some(PyObject::Float(f)) => PyValue::Number(*f),
                Some(PyObject::Int(n)) => PyValue::Number(*n as f64),
                other => return Err(fail(format!("constant {other:?}"))),
            },
            Instruction::LoadGlobal { name: i, push_null } => {
                if push_null {
                    stack.push(PyValue::Null);
                }
                PyValue::Name(name(i)?)
            }
            Instruction::LoadAttr(i) | Instruction::LoadMethod(i) => {
                let PyValue::Name(owner) = pop()? else { return Err(fail("attribute of a value".into())) };
                if matches!(instruction, Instruction::LoadMethod(_)) {
                    stack.push(PyValue::Null);
                }
                PyValue::Name(format!("{owner}.{}", name(i)?))
            }
            Instruction::PushNull => PyValue::Null,
            Instruction::KwNames(i) => {
                keyword_names = match code.consts.get(i) {
                    Some(PyObject::Tuple(names)) => names.clone(),
                    _ => return Err(fail("bad keyword names".into())),
                };
                continue;
            }
            Instruction::Call(count) => {
                let args = (0..count).map(|_| pop()).collect::<Result<Vec<_>, _>>()?;
                let (callable, below) = (pop()?, pop()?);
                if !keyword_names.is_empty() {
                    return Err(fail("a call with keyword arguments is not known to the oracle".into()));
                }
                call(&layer.name, callable, below, args.into_iter().rev().collect())?
            }
            Instruction::Negative => match pop()? {
                PyValue::Number(n) => PyValue::Number(-n),
                PyValue::Tensor(t) => PyValue::Tensor(t.mapv(|v| -v)),
                _ => return Err(fail("negation of a function".into())),
            },
            Instruction::Binary(op) => {
                let b = pop()?;
                let a = pop()?;
                binary(&layer.name, op, a, b)?
            }
            Instruction::Return => {
                return match pop()? {
                    PyValue::Tensor(t) => Ok(t),
                    _ => Err(fail("the body returns no tensor".into())),
                }
            }
        };
        stack.push(value);
    }
    Err(fail("the body does not return".into()))
}

/// A call of a TensorFlow function on a tensor (and optionally a second operand).
fn call(layer: &str, callable: PyValue, below: PyValue, args: Vec<PyValue>) -> Result<PyValue, VerifyError> {
    let (PyValue::Name(path), PyValue::Null) = (callable, below) else {
        return Err(oracle_error(layer, "a call of something other than a TensorFlow function"));
    };
    let function = path.strip_prefix("tf.").ok_or_else(|| oracle_error(layer, &format!("{path} is not tf.*")))?;
    let output = match args.as_slice() {
        [PyValue::Tensor(x)] => tf_function(layer, function, x, None)?,
        [PyValue::Tensor(x), PyValue::Number(y)] => tf_function(layer, function, x, Some(Operand::Scalar(*y as f32)))?,
        [PyValue::Tensor(x), PyValue::Tensor(y)] => tf_function(layer, function, x, Some(Operand::Tensor(y)))?,
        _ => return Err(oracle_error(layer, &format!("{path} with these arguments is not known to the oracle"))),
    };
    Ok(PyValue::Tensor(output))
}

/// `a op b` as Python evaluates it: numbers in double precision, a tensor with a number in
/// float32 (TF converts the number to the tensor's dtype).
fn binary(layer: &str, op: BinaryOp, a: PyValue, b: PyValue) -> Result<PyValue, VerifyError> {
    let f32_op: fn(f32, f32) -> f32 = match op {
        BinaryOp::Add => |a, b| a + b,
        BinaryOp::Subtract => |a, b| a - b,
        BinaryOp::Multiply => |a, b| a * b,
        BinaryOp::TrueDivide => |a, b| a / b,
        BinaryOp::Power => f32::powf,
    };
    Ok(match (a, b) {
        (PyValue::Number(a), PyValue::Number(b)) => PyValue::Number(match op {
            BinaryOp::Add => a + b,
            BinaryOp::Subtract => a - b,
            BinaryOp::Multiply => a * b,
            BinaryOp::TrueDivide if b == 0.0 => return Err(oracle_error(layer, "division by zero")),
            BinaryOp::TrueDivide => a / b,
            BinaryOp::Power => a.powf(b),
        }),
        (PyValue::Tensor(a), PyValue::Number(b)) => {
            PyValue::Tensor(elementwise(layer, &a, &Operand::Scalar(b as f32), f32_op)?)
        }
        (PyValue::Number(a), PyValue::Tensor(b)) => {
            PyValue::Tensor(elementwise(layer, &b, &Operand::Scalar(a as f32), move |t, n| f32_op(n, t))?)
        }
        (PyValue::Tensor(a), PyValue::Tensor(b)) => {
            PyValue::Tensor(elementwise(layer, &a, &Operand::Tensor(&b), f32_op)?)
        }
        _ => return Err(oracle_error(layer, &format!("{op:?} of a function"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use serde_json::json;

    #[test]
    fn a_saved_scale_and_shift_runs_as_python_does() {
        // `lambda t: t * 2.0 + 1.0` saved by tf-keras 2.21 under CPython 3.11.
        let code = "4wEAAAAAAAAAAAAAAAIAAAATAAAA8xIAAACXAHwAZAF6BQAAZAJ6AAAAUwApA07nAAAAAAAAAEDn\nAAAAAAAA8D+pACkB2gF0cwEAAAAg+isvd29yay93dC91cGdyYWRlL3Rlc3QtbW9kZWxzL2dlbmVy\nYXRlX2g1LnB5+gg8bGFtYmRhPvoZcmVmdXNlZC48bG9jYWxzPi48bGFtYmRhPvoAAABzDgAAAIAA\noGGoI6FnsAOhbYAA8wAAAAA=\n";
        let layer = LegacyLayer {
            name: "scale_shift".into(),
            class_name: "Lambda".into(),
            config: json!({"function": [code, null, null], "function_type": "lambda"}).as_object().cloned().unwrap(),
            inbound: vec!["x".into()],
            kwargs: Default::default(),
            weights: vec![],
        };
        let x = array![[-1.0f32, 0.25, 3.0]].into_dyn();
        assert_eq!(run_lambda(&layer, &x).unwrap(), array![[-1.0f32, 1.5, 7.0]].into_dyn());
    }

    #[test]
    fn reversed_operands_keep_their_order() {
        let x = array![[1.0f32, 4.0]].into_dyn();
        let PyValue::Tensor(out) = binary("l", BinaryOp::Subtract, PyValue::Number(1.0), PyValue::Tensor(x)).unwrap()
        else {
            panic!("a tensor expected")
        };
        assert_eq!(out, array![[0.0f32, -3.0]].into_dyn());
    }
}
