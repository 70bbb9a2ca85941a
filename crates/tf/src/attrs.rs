//! Typed access to NodeDef attributes, with errors naming node, op and attribute.

use crate::pb::attr_value::Value;
use crate::pb::NodeDef;
use crate::TfError;

/// Attribute getters for [`NodeDef`]. `*_opt` variants return `None` when the attribute is
/// absent (TF strips attributes equal to their default).
pub trait NodeExt {
    /// A raw attribute value.
    fn attr_value(&self, attr: &str) -> Option<&Value>;
    /// An error about `attr` of this node.
    fn attr_error(&self, attr: &str, message: &str) -> TfError;
    /// An error about this node.
    fn node_error(&self, message: String) -> TfError;

    /// A list of integers (`strides`, `dilations`, `ksize`).
    fn attr_ints_opt(&self, attr: &str) -> Result<Option<Vec<i64>>, TfError> {
        match self.attr_value(attr) {
            None => Ok(None),
            Some(Value::List(list)) => Ok(Some(list.i.clone())),
            Some(_) => Err(self.attr_error(attr, "is not a list of integers")),
        }
    }
    /// A required list of integers.
    fn attr_ints(&self, attr: &str) -> Result<Vec<i64>, TfError> {
        self.attr_ints_opt(attr)?.ok_or_else(|| self.attr_error(attr, "is missing"))
    }
    /// A string (`padding`, `data_format`).
    fn attr_str_opt(&self, attr: &str) -> Result<Option<String>, TfError> {
        match self.attr_value(attr) {
            None => Ok(None),
            Some(Value::S(bytes)) => Ok(Some(String::from_utf8_lossy(bytes).into_owned())),
            Some(_) => Err(self.attr_error(attr, "is not a string")),
        }
    }
    /// A required string.
    fn attr_str(&self, attr: &str) -> Result<String, TfError> {
        self.attr_str_opt(attr)?.ok_or_else(|| self.attr_error(attr, "is missing"))
    }
    /// A float (`epsilon`).
    fn attr_float_opt(&self, attr: &str) -> Result<Option<f32>, TfError> {
        match self.attr_value(attr) {
            None => Ok(None),
            Some(Value::F(v)) => Ok(Some(*v)),
            Some(_) => Err(self.attr_error(attr, "is not a float")),
        }
    }
    /// A bool (`transpose_a`, `is_training`).
    fn attr_bool_opt(&self, attr: &str) -> Result<Option<bool>, TfError> {
        match self.attr_value(attr) {
            None => Ok(None),
            Some(Value::B(v)) => Ok(Some(*v)),
            Some(_) => Err(self.attr_error(attr, "is not a bool")),
        }
    }
    /// An integer.
    fn attr_int_opt(&self, attr: &str) -> Result<Option<i64>, TfError> {
        match self.attr_value(attr) {
            None => Ok(None),
            Some(Value::I(v)) => Ok(Some(*v)),
            Some(_) => Err(self.attr_error(attr, "is not an integer")),
        }
    }
    /// A shape (`shape` of a Placeholder): `None` per unknown dimension; `Ok(None)` if the
    /// attribute is absent or the rank is unknown.
    fn attr_shape_opt(&self, attr: &str) -> Result<Option<Vec<Option<usize>>>, TfError> {
        match self.attr_value(attr) {
            None => Ok(None),
            Some(Value::Shape(shape)) if shape.unknown_rank => Ok(None),
            Some(Value::Shape(shape)) => {
                Ok(Some(shape.dim.iter().map(|d| if d.size < 0 { None } else { Some(d.size as usize) }).collect()))
            }
            Some(_) => Err(self.attr_error(attr, "is not a shape")),
        }
    }
    /// The data type enum value (`dtype`, `T`).
    fn attr_type_opt(&self, attr: &str) -> Result<Option<i32>, TfError> {
        match self.attr_value(attr) {
            None => Ok(None),
            Some(Value::Type(t)) => Ok(Some(*t)),
            Some(_) => Err(self.attr_error(attr, "is not a data type")),
        }
    }
}

impl NodeExt for NodeDef {
    fn attr_value(&self, attr: &str) -> Option<&Value> {
        self.attr.get(attr).and_then(|a| a.value.as_ref())
    }

    fn attr_error(&self, attr: &str, message: &str) -> TfError {
        TfError::Attr { node: self.name.clone(), op: self.op.clone(), attr: attr.into(), message: message.into() }
    }

    fn node_error(&self, message: String) -> TfError {
        TfError::Node { node: self.name.clone(), op: self.op.clone(), message }
    }
}
