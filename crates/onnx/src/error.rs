//! Translation errors: [`OpError`] says what is wrong with one node, [`OnnxError`] adds the
//! file and the node (name and op) or graph input it happened at. At the crate boundary an
//! [`OnnxError`] becomes a [`TfError::Format`], so the CLI prints one line naming the file,
//! the node and the op whichever source format it loaded.

use std::path::PathBuf;

use tf2h5_tf::TfError;

/// What is wrong with one ONNX node (or one of its inputs or attributes).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// No translation is registered for the op.
    #[error("op '{op}' is not supported")]
    UnsupportedOp {
        /// The op type.
        op: String,
    },
    /// The op is not in the default ONNX domain.
    #[error("op '{op}' of domain '{domain}' is not supported")]
    UnsupportedDomain {
        /// The op type.
        op: String,
        /// Its domain.
        domain: String,
    },
    /// The file imports an opset the op's translation does not read.
    #[error("opset {opset} is not supported for this op ({supported})")]
    UnsupportedOpset {
        /// The default-domain opset the file imports.
        opset: i64,
        /// Which opsets are.
        supported: String,
    },
    /// An attribute has the wrong type or value.
    #[error("attribute '{attr}' {message}")]
    Attr {
        /// The attribute name.
        attr: String,
        /// What is wrong.
        message: String,
    },
    /// An input is missing, or of a kind (tensor, constant, shape values) the op cannot use.
    #[error("input {index} {message}")]
    Input {
        /// The input's position.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// An initializer or constant tensor cannot be decoded.
    #[error("tensor '{name}': {message}")]
    Tensor {
        /// The tensor's name (`constant` when it has none).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The translation needs a size the file leaves unknown (it comes from an unknown input
    /// dimension): translated again with the inputs' unknown sizes fixed, the node would be
    /// ([`crate::load`] does that).
    #[error("{0}")]
    UnknownSize(String),
    /// A form of a translated op (shape, axis, attribute combination) with no exact TF/Keras
    /// equivalent, or a node inconsistent with its inputs.
    #[error("{0}")]
    Unsupported(String),
}

impl From<String> for OpError {
    fn from(message: String) -> Self {
        OpError::Unsupported(message)
    }
}

impl From<&str> for OpError {
    fn from(message: &str) -> Self {
        OpError::Unsupported(message.to_string())
    }
}

/// `OpError::Unsupported(format!(...))`.
macro_rules! unsupported {
    ($($arg:tt)*) => {
        $crate::error::OpError::Unsupported(format!($($arg)*))
    };
}
pub(crate) use unsupported;

/// A translation error, located in the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct OnnxError {
    /// The `.onnx` file.
    pub path: PathBuf,
    /// What went wrong, and where (boxed: errors travel up through every translation).
    pub kind: Box<ErrorKind>,
}

impl OnnxError {
    /// An error of `kind` in the file at `path`.
    pub fn new(path: impl Into<PathBuf>, kind: ErrorKind) -> Self {
        OnnxError { path: path.into(), kind: Box::new(kind) }
    }
}

/// Where in the file an [`OnnxError`] happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// At a node.
    #[error("node '{node}' ({op}): {source}")]
    Node {
        /// The node's name, else its first output.
        node: String,
        /// Its op type.
        op: String,
        /// What is wrong.
        source: OpError,
    },
    /// At a graph input.
    #[error("input '{input}': {message}")]
    Input {
        /// The input's name.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// At a graph output.
    #[error("output '{output}': {message}")]
    Output {
        /// The output's name.
        output: String,
        /// What is wrong.
        message: String,
    },
    /// An initializer cannot be decoded.
    #[error("{0}")]
    Initializer(OpError),
    /// The file imports an opset tract-onnx (the oracle) does not read.
    #[error("ONNX opset {opset} is not supported (opsets {min} to {max} are, those the tract-onnx oracle reads)")]
    Opset {
        /// The default-domain opset the file imports.
        opset: i64,
        /// The oldest supported.
        min: i64,
        /// The newest supported.
        max: i64,
    },
    /// The file is not a usable ONNX model.
    #[error("{0}")]
    Format(String),
}

impl From<OnnxError> for TfError {
    fn from(error: OnnxError) -> Self {
        TfError::Format { path: error.path, message: error.kind.to_string() }
    }
}
