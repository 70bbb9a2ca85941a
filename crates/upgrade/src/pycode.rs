//! The body of a Keras `Lambda` layer as its file stores it: base64 of `marshal.dumps(code)`
//! (tf-keras's `func_dump`), plus the values its extra parameters are bound to (`arguments`,
//! the function's defaults, its closure). It is read as CPython 3.11 writes it, the Python
//! tf-keras 2.21 runs on here. The marshal format names no version: a code object of another
//! CPython fails to read (3.8–3.10 lay code objects out differently) or holds an instruction
//! outside the 3.11 subset decoded here (3.12 changes inline caches, 3.13 opcode numbers), and
//! is refused naming the layer.
//!
//! This module only decodes. What a body computes is decided by its two readers, independently:
//! the rewrite's pattern matcher ([`crate::lambda`]) and the verification oracle's interpreter.

use base64::Engine as _;
use serde_json::{Map, Value};

/// A Python constant or the marshalled object it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum PyObject {
    /// `None`, and marshal's NULL.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` (arbitrary-precision ints beyond i64 are refused).
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `tuple`.
    Tuple(Vec<PyObject>),
    /// A code object (a nested function).
    Code(Box<CodeObject>),
    /// `...`.
    Ellipsis,
}

/// A CPython 3.11 code object: the fields marshal writes, those a reader needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeObject {
    /// Positional parameters (`co_argcount`).
    pub argcount: usize,
    /// Keyword-only parameters.
    pub kwonlyargcount: usize,
    /// `co_flags`.
    pub flags: u32,
    /// The bytecode (`co_code`, with inline caches).
    pub code: Vec<u8>,
    /// `co_consts`.
    pub consts: Vec<PyObject>,
    /// Global and attribute names (`co_names`).
    pub names: Vec<String>,
    /// Parameters, locals, cells and free variables, in slot order.
    pub localsplus_names: Vec<String>,
    /// The kind of each slot (`CO_FAST_LOCAL` 0x20, `CO_FAST_CELL` 0x40, `CO_FAST_FREE` 0x80).
    pub localsplus_kinds: Vec<u8>,
    /// The exception table (empty for a body without `try`).
    pub exception_table: Vec<u8>,
}

const CO_FAST_CELL: u8 = 0x40;
const CO_FAST_FREE: u8 = 0x80;
/// `*args`, `**kwargs`, generators and coroutines: none is a plain tensor function.
const CO_UNSUPPORTED_FLAGS: u32 = 0x04 | 0x08 | 0x20 | 0x80 | 0x100 | 0x200;

/// Reads one marshalled object (`marshal.loads`), with its back-references.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    refs: Vec<Option<PyObject>>,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or("marshal data ends early")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len(&mut self) -> Result<usize, String> {
        usize::try_from(self.i32()?).map_err(|_| "negative length in marshal data".to_string())
    }

    fn object(&mut self) -> Result<PyObject, String> {
        let code = self.byte()?;
        let (kind, flagged) = (code & 0x7f, code & 0x80 != 0);
        if kind == b'r' {
            let index = self.len()?;
            return self.refs.get(index).cloned().flatten().ok_or_else(|| format!("bad marshal reference {index}"));
        }
        // A flagged object takes the next reference slot before its contents are read.
        let slot = flagged.then(|| {
            self.refs.push(None);
            self.refs.len() - 1
        });
        let object = match kind {
            b'0' | b'N' => PyObject::None,
            b'T' => PyObject::Bool(true),
            b'F' => PyObject::Bool(false),
            b'.' => PyObject::Ellipsis,
            b'i' => PyObject::Int(self.i32()?.into()),
            b'l' => self.long()?,
            b'g' => {
                let b = self.take(8)?;
                PyObject::Float(f64::from_le_bytes(b.try_into().map_err(|_| "float")?))
            }
            b's' => {
                let n = self.len()?;
                PyObject::Bytes(self.take(n)?.to_vec())
            }
            b'a' | b'A' | b'u' | b't' => {
                let n = self.len()?;
                self.string(n)?
            }
            b'z' | b'Z' => {
                let n = self.byte()?.into();
                self.string(n)?
            }
            b'(' => {
                let n = self.len()?;
                self.tuple(n)?
            }
            b')' => {
                let n = self.byte()?.into();
                self.tuple(n)?
            }
            b'c' => PyObject::Code(Box::new(self.code()?)),
            other => return Err(format!("marshal type '{}' is not supported", other as char)),
        };
        if let Some(slot) = slot {
            self.refs[slot] = Some(object.clone());
        }
        Ok(object)
    }

    fn string(&mut self, n: usize) -> Result<PyObject, String> {
        let text = std::str::from_utf8(self.take(n)?).map_err(|_| "a marshalled string is not UTF-8")?;
        Ok(PyObject::Str(text.to_string()))
    }

    fn tuple(&mut self, n: usize) -> Result<PyObject, String> {
        if n > self.bytes.len() {
            return Err("marshal tuple longer than the data".into());
        }
        (0..n).map(|_| self.object()).collect::<Result<_, _>>().map(PyObject::Tuple)
    }

    /// A Python int in 15-bit digits, least significant first; the sign is the count's.
    fn long(&mut self) -> Result<PyObject, String> {
        let count = self.i32()?;
        let mut value: i64 = 0;
        for i in 0..count.unsigned_abs() {
            let b = self.take(2)?;
            let digit = i64::from(u16::from_le_bytes([b[0], b[1]]));
            value = digit
                .checked_shl(15 * i)
                .filter(|_| i < 4)
                .and_then(|d| value.checked_add(d))
                .ok_or("an int beyond 64 bits is not supported")?;
        }
        Ok(PyObject::Int(if count < 0 { -value } else { value }))
    }

    /// CPython 3.11's code object layout (`Python/marshal.c`, `w_object` of a code object).
    fn code(&mut self) -> Result<CodeObject, String> {
        let argcount = self.len()?;
        let _posonlyargcount = self.len()?;
        let kwonlyargcount = self.len()?;
        let _stacksize = self.len()?;
        let flags = self.i32()? as u32;
        let code = self.bytes_object("co_code")?;
        let consts = match self.object()? {
            PyObject::Tuple(items) => items,
            _ => return Err("co_consts is not a tuple".into()),
        };
        let names = self.strings("co_names")?;
        let localsplus_names = self.strings("co_localsplusnames")?;
        let localsplus_kinds = self.bytes_object("co_localspluskinds")?;
        for field in ["co_filename", "co_name", "co_qualname"] {
            self.str_object(field)?;
        }
        let _firstlineno = self.i32()?;
        let _linetable = self.bytes_object("co_linetable")?;
        let exception_table = self.bytes_object("co_exceptiontable")?;
        if localsplus_kinds.len() != localsplus_names.len() || argcount > localsplus_names.len() {
            return Err("inconsistent local variable tables".into());
        }
        Ok(CodeObject {
            argcount,
            kwonlyargcount,
            flags,
            code,
            consts,
            names,
            localsplus_names,
            localsplus_kinds,
            exception_table,
        })
    }

    fn bytes_object(&mut self, field: &str) -> Result<Vec<u8>, String> {
        match self.object()? {
            PyObject::Bytes(b) => Ok(b),
            _ => Err(format!("{field} is not bytes")),
        }
    }

    fn str_object(&mut self, field: &str) -> Result<String, String> {
        match self.object()? {
            PyObject::Str(s) => Ok(s),
            _ => Err(format!("{field} is not a string")),
        }
    }

    fn strings(&mut self, field: &str) -> Result<Vec<String>, String> {
        match self.object()? {
            PyObject::Tuple(items) => items
                .into_iter()
                .map(|item| match item {
                    PyObject::Str(s) => Ok(s),
                    _ => Err(format!("{field} holds a non-string")),
                })
                .collect(),
            _ => Err(format!("{field} is not a tuple")),
        }
    }
}

/// The binary operators of `BINARY_OP` a body may use (CPython's `NB_*` numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Subtract,
    /// `*`
    Multiply,
    /// `/`
    TrueDivide,
    /// `**`
    Power,
}

/// One CPython 3.11 instruction of the subset a small tensor expression compiles to (frame
/// set-up such as `RESUME` and `COPY_FREE_VARS` is left out); arguments are table indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instruction {
    /// Push a parameter's value (slot index).
    LoadFast(usize),
    /// Push a free variable's value (slot index).
    LoadDeref(usize),
    /// Push `co_consts[i]`.
    LoadConst(usize),
    /// Push the global `co_names[i]`, after a NULL when `push_null` (a call follows).
    LoadGlobal {
        /// Index in `co_names`.
        name: usize,
        /// Whether a NULL is pushed first.
        push_null: bool,
    },
    /// Replace the top with its attribute `co_names[i]`.
    LoadAttr(usize),
    /// Replace the top (a module) with NULL and its attribute `co_names[i]`, to be called.
    LoadMethod(usize),
    /// Push NULL.
    PushNull,
    /// The next call's last arguments are keywords, named by the tuple `co_consts[i]`.
    KwNames(usize),
    /// Call with this many arguments (`PRECALL` + `CALL`).
    Call(usize),
    /// Pop two, push `a op b`.
    Binary(BinaryOp),
    /// `-top`.
    Negative,
    /// Return the top.
    Return,
}

/// Decodes CPython 3.11 bytecode, checking each instruction's inline cache entries.
pub fn instructions(code: &CodeObject) -> Result<Vec<Instruction>, String> {
    if !code.code.len().is_multiple_of(2) {
        return Err("bytecode of odd length".into());
    }
    let units: Vec<(u8, u8)> = code.code.chunks(2).map(|c| (c[0], c[1])).collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut extended: usize = 0;
    let mut pending_precall = None;
    while i < units.len() {
        let (op, low) = units[i];
        let arg = (extended << 8) | usize::from(low);
        extended = 0;
        // (instruction, inline cache entries after it), per CPython 3.11's `opcode.py`.
        let (decoded, caches) = match op {
            151 | 9 | 149 => (None, 0), // RESUME, NOP, COPY_FREE_VARS
            144 => {
                extended = arg; // EXTENDED_ARG
                (None, 0)
            }
            124 => (Some(Instruction::LoadFast(arg)), 0),
            137 => (Some(Instruction::LoadDeref(arg)), 0),
            100 => (Some(Instruction::LoadConst(arg)), 0),
            116 => (Some(Instruction::LoadGlobal { name: arg >> 1, push_null: arg & 1 == 1 }), 5),
            106 => (Some(Instruction::LoadAttr(arg)), 4),
            160 => (Some(Instruction::LoadMethod(arg)), 10),
            2 => (Some(Instruction::PushNull), 0),
            172 => (Some(Instruction::KwNames(arg)), 0),
            166 => {
                pending_precall = Some(arg); // PRECALL, then CALL with the same count
                (None, 1)
            }
            171 if pending_precall.take() == Some(arg) => (Some(Instruction::Call(arg)), 4),
            122 => {
                let op = match arg {
                    0 => BinaryOp::Add,
                    10 => BinaryOp::Subtract,
                    5 => BinaryOp::Multiply,
                    11 => BinaryOp::TrueDivide,
                    8 => BinaryOp::Power,
                    other => return Err(format!("binary operator {other} is not supported")),
                };
                (Some(Instruction::Binary(op)), 1)
            }
            11 => (Some(Instruction::Negative), 0),
            83 => (Some(Instruction::Return), 0),
            other => return Err(format!("CPython 3.11 opcode {other} is not supported")),
        };
        for cache in i + 1..i + 1 + caches {
            if units.get(cache).map(|u| u.0) != Some(0) {
                return Err(format!("opcode {op} lacks its CPython 3.11 inline caches"));
            }
        }
        out.extend(decoded);
        i += 1 + caches;
    }
    if pending_precall.is_some() {
        return Err("PRECALL without its CALL".into());
    }
    Ok(out)
}

/// What a body's local slot holds when the layer runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Local {
    /// The layer's input tensor (the first parameter).
    Input,
    /// A number bound from `arguments`, a default or the closure.
    Number(f64),
    /// A local the body would assign (no such body is accepted).
    Unbound,
}

/// A `Lambda` layer's body, decoded and with its parameters bound.
#[derive(Debug, Clone)]
pub struct LambdaBody {
    /// The code object.
    pub code: CodeObject,
    /// Its instructions.
    pub instructions: Vec<Instruction>,
    /// The value of each local slot.
    pub locals: Vec<Local>,
}

/// Reads a `Lambda` config's `function` (`[base64, defaults, closure]`), `function_type`
/// and `arguments`.
pub fn lambda_body(config: &Map<String, Value>) -> Result<LambdaBody, String> {
    match config.get("function_type").and_then(Value::as_str) {
        Some("lambda") | None => {}
        Some(other) => return Err(format!("function_type '{other}' (only a saved body can be read)")),
    }
    let (encoded, defaults, closure) = match config.get("function") {
        Some(Value::String(encoded)) => (encoded.as_str(), &Value::Null, &Value::Null),
        Some(Value::Array(parts)) => match parts.as_slice() {
            [Value::String(encoded), defaults, closure] => (encoded.as_str(), defaults, closure),
            _ => return Err("'function' is not [code, defaults, closure]".into()),
        },
        _ => return Err("no saved function body".into()),
    };
    let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("the function body is not base64: {e}"))?;
    let mut reader = Reader { bytes: &bytes, at: 0, refs: vec![] };
    let code = match reader.object() {
        Ok(PyObject::Code(code)) if reader.at == bytes.len() => *code,
        _ => return Err("the body is not a CPython 3.11 code object (the only Python version tf2h5 reads)".into()),
    };
    if code.flags & CO_UNSUPPORTED_FLAGS != 0 || code.kwonlyargcount != 0 || code.argcount == 0 {
        return Err("the function takes *args, **kwargs or keyword-only parameters, or is a generator".into());
    }
    if !code.exception_table.is_empty() {
        return Err("the body handles exceptions".into());
    }
    let instructions = instructions(&code).map_err(|e| format!("{e} (only CPython 3.11 bytecode is read)"))?;
    let locals = bind_locals(&code, config.get("arguments"), defaults, closure)?;
    Ok(LambdaBody { code, instructions, locals })
}

/// The first parameter is the input; the others come from `arguments` (Keras passes them as
/// keywords), else the function's defaults; free variables from the saved closure, in order.
fn bind_locals(
    code: &CodeObject,
    arguments: Option<&Value>,
    defaults: &Value,
    closure: &Value,
) -> Result<Vec<Local>, String> {
    let number = |value: &Value, what: &str| {
        value.as_f64().map(Local::Number).ok_or_else(|| format!("{what} = {value} is not a number"))
    };
    let arguments = arguments.and_then(Value::as_object).cloned().unwrap_or_default();
    let defaults = defaults.as_array().cloned().unwrap_or_default();
    let first_default = code.argcount.saturating_sub(defaults.len());
    let mut closure_values = closure.as_array().cloned().unwrap_or_default().into_iter();
    let mut locals = Vec::new();
    for (slot, (name, &kind)) in code.localsplus_names.iter().zip(&code.localsplus_kinds).enumerate() {
        let local = if slot == 0 {
            Local::Input
        } else if slot < code.argcount {
            match arguments.get(name) {
                Some(value) => number(value, &format!("argument '{name}'"))?,
                None if slot >= first_default => number(&defaults[slot - first_default], &format!("default '{name}'"))?,
                None => return Err(format!("parameter '{name}' has no value")),
            }
        } else if kind & CO_FAST_FREE != 0 {
            let value = closure_values.next().ok_or_else(|| format!("free variable '{name}' is not in the closure"))?;
            number(&value, &format!("closure variable '{name}'"))?
        } else if kind & CO_FAST_CELL != 0 {
            return Err(format!("'{name}' is captured by a nested function"));
        } else {
            Local::Unbound
        };
        locals.push(local);
    }
    if let Some(unknown) = arguments.keys().find(|k| !code.localsplus_names[1..code.argcount].contains(k)) {
        return Err(format!("argument '{unknown}' is not a parameter of the function"));
    }
    Ok(locals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `lambda t: t * 2.0 + 1.0`, as tf-keras 2.21 saved it under CPython 3.11 (generate_h5.py).
    const SCALE_SHIFT: &str = "4wEAAAAAAAAAAAAAAAIAAAATAAAA8xIAAACXAHwAZAF6BQAAZAJ6AAAAUwApA07nAAAAAAAAAEDn\nAAAAAAAA8D+pACkB2gF0cwEAAAAg+isvd29yay93dC91cGdyYWRlL3Rlc3QtbW9kZWxzL2dlbmVy\nYXRlX2g1LnB5+gg8bGFtYmRhPvoZcmVmdXNlZC48bG9jYWxzPi48bGFtYmRhPvoAAABzDgAAAIAA\noGGoI6FnsAOhbYAA8wAAAAA=\n";

    #[test]
    fn a_cpython_311_lambda_is_decoded() {
        let config = json!({"function": [SCALE_SHIFT, null, null], "function_type": "lambda", "arguments": {}});
        let body = lambda_body(config.as_object().unwrap()).unwrap();
        use Instruction::*;
        assert_eq!(
            body.instructions,
            [LoadFast(0), LoadConst(1), Binary(BinaryOp::Multiply), LoadConst(2), Binary(BinaryOp::Add), Return]
        );
        assert_eq!(body.code.consts[1..], [PyObject::Float(2.0), PyObject::Float(1.0)]);
        assert_eq!(body.locals, [Local::Input]);
    }

    #[test]
    fn other_versions_and_unbound_parameters_are_refused() {
        let refused = |config: Value| lambda_body(config.as_object().unwrap()).unwrap_err();
        assert!(refused(json!({"function": ["4wEA", null, null]})).contains("CPython 3.11"));
        assert!(refused(json!({"function": "not base64!"})).contains("base64"));
        assert!(refused(json!({"function": "f", "function_type": "function"})).contains("function_type"));
        // Python 3.10's layout (six counts before co_code) does not read as a 3.11 code object.
        let mut py310 = vec![0xe3];
        for count in [1i32, 0, 0, 1, 2, 0x43] {
            py310.extend(count.to_le_bytes());
        }
        py310.extend([0x73, 2, 0, 0, 0, 83, 0]);
        let encoded = base64::engine::general_purpose::STANDARD.encode(py310);
        assert!(refused(json!({"function": [encoded, null, null]})).contains("CPython 3.11"));
    }

    #[test]
    fn inline_caches_are_checked() {
        let code = |bytes: Vec<u8>| CodeObject {
            argcount: 1,
            kwonlyargcount: 0,
            flags: 3,
            code: bytes,
            consts: vec![],
            names: vec![],
            localsplus_names: vec!["x".into()],
            localsplus_kinds: vec![0x26],
            exception_table: vec![],
        };
        // BINARY_OP is followed by one cache entry in 3.11; a CALL needs its PRECALL.
        assert!(instructions(&code(vec![124, 0, 124, 0, 122, 5, 0, 0, 83, 0])).is_ok());
        assert!(instructions(&code(vec![124, 0, 124, 0, 122, 5, 83, 0])).is_err());
        assert!(instructions(&code(vec![124, 0, 171, 1, 0, 0, 0, 0, 0, 0, 0, 0])).is_err(), "CALL without PRECALL");
    }
}
