//! Node input references, as GraphDefs (`node:k`) and FunctionDefs (`arg`, `node:out_arg:k`)
//! write them.

/// A parsed node input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ref<'s> {
    /// A function argument (`x` or `x:0`).
    Arg(&'s str, usize),
    /// A node output: graph form `node:k` (no arg name) or function form `node:out_arg:k`.
    Node(&'s str, Option<&'s str>, usize),
}

fn parse_index(s: &str) -> Option<usize> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// A GraphDef input (`node`, `node:k`); `None` for control inputs.
pub(super) fn parse_graph_ref(input: &str) -> Option<Ref<'_>> {
    if input.starts_with('^') {
        return None;
    }
    Some(match input.rsplit_once(':') {
        Some((node, k)) if parse_index(k).is_some() => Ref::Node(node, None, parse_index(k).unwrap_or(0)),
        _ => Ref::Node(input, None, 0),
    })
}

/// A FunctionDef input (`arg`, `arg:k`, `node:out`, `node:out:k`); `None` for control inputs.
pub(super) fn parse_function_ref<'s>(input: &'s str, is_arg: impl Fn(&str) -> bool) -> Result<Option<Ref<'s>>, String> {
    if input.starts_with('^') {
        return Ok(None);
    }
    let parts: Vec<&str> = input.split(':').collect();
    Ok(Some(match parts.as_slice() {
        [arg] => Ref::Arg(arg, 0),
        [first, k] if is_arg(first) && parse_index(k).is_some() => Ref::Arg(first, parse_index(k).unwrap_or(0)),
        [node, out] => Ref::Node(node, Some(out), 0),
        [node, out, k] => {
            Ref::Node(node, Some(out), parse_index(k).ok_or_else(|| format!("bad output index in '{input}'"))?)
        }
        _ => return Err(format!("malformed input '{input}'")),
    }))
}

pub(super) fn tensor_name(node: &str, k: usize) -> String {
    if k == 0 {
        node.to_string()
    } else {
        format!("{node}:{k}")
    }
}
