//! TF `Einsum` of a computed tensor and a constant weight, in the forms Keras's `EinsumDense`
//! and `MultiHeadAttention`'s projections write (`abc,cd->abd`, `abc,cde->abde`,
//! `abcd,cde->abe`): the contracted axes are the tensor's last ones, and the output keeps the
//! tensor's other axes in order followed by the weight's free axes. That is a `Dense` on the
//! last axis, with a `Reshape` merging several contracted axes before it and one splitting
//! several output axes after it; the weight is transposed and reshaped into the kernel.
//! A following constant add (the projection's bias) is then a bias or a `Rescaling`.
//!
//! An Einsum of two computed tensors sharing the batch as first axis (attention's
//! `aecd,abcd->acbe` scores and `acbe,aecd->abcd` mix) is a batched matrix product over the
//! shared axes (the heads): each operand is permuted and reshaped to (heads, free, contracted),
//! each head cut out by a `Cropping1D` and multiplied by a `Dot`, the heads joined by
//! `Concatenate`, and the result reshaped and permuted to the output's axes. The products sum
//! in another order than TF's (float32 rounding only). Any other equation is refused.

use tf2h5_keras::layers;
use tf2h5_keras::spec::{LayerSpec, ResampleKind, Sides};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

/// One operand's axis letters.
type Letters = Vec<char>;

/// `"abc,cd->abd"` → the operands' letters and the output's.
fn parse(equation: &str) -> Option<(Vec<Letters>, Letters)> {
    let (inputs, output) = equation.split_once("->")?;
    let letters = |s: &str| -> Option<Letters> {
        let v: Letters = s.trim().chars().collect();
        let unique = v.iter().enumerate().all(|(i, c)| !v[..i].contains(c));
        (unique && v.iter().all(char::is_ascii_alphabetic)).then_some(v)
    };
    let inputs = inputs.split(',').map(letters).collect::<Option<Vec<_>>>()?;
    Some((inputs, letters(output)?))
}

pub(super) fn einsum(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let equation = node.attr_str("equation")?;
    let Some((operands, output)) = parse(&equation) else {
        return Err(ctx.refuse(node, format!("the equation '{equation}' is not supported (ellipsis or repeated axes)")));
    };
    if operands.len() != 2 || ctx.input_count(node) != 2 {
        return Err(ctx.refuse(node, format!("'{equation}': only an Einsum of two operands is supported")));
    }
    let (tensor, weight, x, w) = match (ctx.input(node, 0)?, ctx.input(node, 1)?) {
        (Value::Tensor(t), Value::Const(c)) => (t.clone(), c.clone(), &operands[0], &operands[1]),
        (Value::Const(c), Value::Tensor(t)) => (t.clone(), c.clone(), &operands[1], &operands[0]),
        (Value::Tensor(x), Value::Tensor(y)) => {
            let (x, y) = (x.clone(), y.clone());
            return batched(ctx, node, &equation, [(x, &operands[0]), (y, &operands[1])], &output);
        }
        _ => return Err(ctx.refuse(node, format!("'{equation}': expected a tensor and a constant weight"))),
    };
    let weight = weight.as_f32().cloned().ok_or_else(|| ctx.refuse(node, "the weight is not a float constant"))?;
    if x.len() != tensor.rank() || w.len() != weight.ndim() {
        return Err(
            ctx.refuse(node, format!("'{equation}' does not fit shapes {:?} and {:?}", tensor.shape, weight.shape()))
        );
    }
    let contracted: Letters = x.iter().copied().filter(|c| w.contains(c)).collect();
    let kept = x.len() - contracted.len();
    let free_w: Letters = output.iter().copied().skip(kept).collect();
    let dense_form = kept >= 1
        && !contracted.is_empty()
        && !free_w.is_empty()
        && x[kept..] == contracted[..]
        && output[..kept.min(output.len())] == x[..kept]
        && output.len() == kept + w.len() - contracted.len()
        && free_w.iter().all(|c| w.contains(c) && !x.contains(c));
    if !dense_form {
        return Err(ctx.refuse(
            node,
            format!("'{equation}' is not a Dense form (the tensor's last axes contracted with a weight)"),
        ));
    }
    // The kernel: weight axes in the order (contracted as in the tensor, free as in the output).
    let position = |c: &char| w.iter().position(|l| l == c).unwrap_or(0);
    let order: Vec<usize> = contracted.iter().chain(&free_w).map(position).collect();
    let contracted_sizes: Vec<usize> = contracted.iter().map(|c| weight.shape()[position(c)]).collect();
    let out_sizes: Vec<usize> = free_w.iter().map(|c| weight.shape()[position(c)]).collect();
    if tensor.shape[kept..].iter().zip(&contracted_sizes).any(|(t, &k)| *t != Some(k)) {
        return Err(ctx.refuse(
            node,
            format!("'{equation}': the tensor {:?} does not fit the weight {:?}", tensor.shape, weight.shape()),
        ));
    }
    let (inputs, units) = (contracted_sizes.iter().product::<usize>(), out_sizes.iter().product::<usize>());
    let kernel = weight
        .permuted_axes(order)
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(vec![inputs, units])
        .map_err(|e| ctx.refuse(node, e.to_string()))?;
    let outer: Vec<Option<usize>> = tensor.shape[..kept].to_vec();
    let with =
        |tail: &[usize]| -> Vec<Option<usize>> { outer.iter().copied().chain(tail.iter().map(|&d| Some(d))).collect() };
    let (merged_shape, dense_shape, out_shape) = (with(&[inputs]), with(&[units]), with(&out_sizes));
    let known = |shape: &[Option<usize>]| -> Option<Vec<usize>> { shape[1..].iter().copied().collect() };
    let (Some(merged_dims), Some(out_dims)) = (known(&merged_shape), known(&out_shape)) else {
        return Err(ctx.refuse(node, format!("'{equation}' on a tensor of unknown shape {:?}", tensor.shape)));
    };
    let name = ctx.layer_name(&node.name);
    let mut input: KTensor = tensor;
    if contracted.len() > 1 {
        let merge = layers::reshape(&format!("{name}_merge"), input.layer, &merged_dims);
        input = ctx.add_inner_layer(merge, merged_shape);
    }
    let dense = layers::dense(&name, input.layer, kernel, None, "linear");
    if free_w.len() == 1 {
        return Ok(ctx.add_layer(node, dense, dense_shape));
    }
    let dense = ctx.add_inner_layer(dense, dense_shape);
    Ok(ctx.add_layer(node, layers::reshape(&format!("{name}_split"), dense.layer, &out_dims), out_shape))
}

/// TF `BatchMatMulV2` of two computed tensors of one rank sharing the batch and the leading
/// axes (Keras 3's attention scores and mix on the TensorFlow backend): the einsum
/// `…mk,…kn->…mn` (`adj_x`/`adj_y` swap an operand's last two letters), built as [`batched`].
pub(super) fn batch_mat_mul(
    ctx: &mut Context,
    node: &NodeDef,
    [x, y]: [KTensor; 2],
    adj_x: bool,
    adj_y: bool,
) -> Result<Value, ConvertError> {
    let rank = x.rank();
    if rank < 3 || y.rank() != rank || rank > 20 {
        return Err(ctx.refuse(
            node,
            format!("a product of tensors of shapes {:?} and {:?} (one rank, 3 or more, expected)", x.shape, y.shape),
        ));
    }
    let leading: Letters = ('a'..='t').take(rank - 2).collect();
    let with = |tail: [char; 2]| -> Letters { leading.iter().copied().chain(tail).collect() };
    let (m, k, n) = ('x', 'y', 'z');
    let xl = with(if adj_x { [k, m] } else { [m, k] });
    let yl = with(if adj_y { [n, k] } else { [k, n] });
    let output = with([m, n]);
    let text = |l: &Letters| l.iter().collect::<String>();
    let equation = format!("{},{}->{}", text(&xl), text(&yl), text(&output));
    batched(ctx, node, &equation, [(x, &xl), (y, &yl)], &output)
}

/// The axes' sizes of `tensor` with `letters`, known.
fn sizes(tensor: &KTensor, letters: &[char], wanted: &[char]) -> Option<Vec<usize>> {
    wanted.iter().map(|c| tensor.shape[letters.iter().position(|l| l == c)?]).collect()
}

/// 1-based Keras `Permute` dims putting `wanted` (non-batch letters) in that order, `None` if
/// they already are.
fn permutation(letters: &[char], wanted: &[char]) -> Option<Vec<usize>> {
    let dims: Vec<usize> = wanted.iter().filter_map(|c| letters.iter().position(|l| l == c)).collect();
    (dims.iter().enumerate().any(|(i, &d)| d != i + 1)).then_some(dims)
}

/// The two-tensor form (see the module doc).
fn batched(
    ctx: &mut Context,
    node: &NodeDef,
    equation: &str,
    operands: [(KTensor, &Letters); 2],
    output: &Letters,
) -> Result<Value, ConvertError> {
    let [(x, xl), (y, yl)] = operands;
    let refuse = |why: &str| ctx.refuse(node, format!("'{equation}' of two computed tensors: {why}"));
    let batch = output.first().copied();
    if batch.is_none() || xl.first().copied() != batch || yl.first().copied() != batch {
        return Err(refuse("the batch must be the first axis of both operands and the output"));
    }
    if xl.len() != x.rank() || yl.len() != y.rank() {
        return Err(refuse("the equation does not fit the operands' ranks"));
    }
    let rest = |l: &Letters| l[1..].to_vec();
    let (xr, yr, outr) = (rest(xl), rest(yl), rest(output));
    let groups: Letters = xr.iter().copied().filter(|c| yr.contains(c) && outr.contains(c)).collect();
    let contracted: Letters = xr.iter().copied().filter(|c| yr.contains(c) && !outr.contains(c)).collect();
    let free_x: Letters = xr.iter().copied().filter(|c| !yr.contains(c)).collect();
    let free_y: Letters = yr.iter().copied().filter(|c| !xr.contains(c)).collect();
    let covered = free_x.iter().chain(&free_y).all(|c| outr.contains(c))
        && outr.len() == groups.len() + free_x.len() + free_y.len();
    if !covered || contracted.is_empty() || free_x.is_empty() || free_y.is_empty() {
        return Err(refuse("not a batched matrix product (free axes on both sides, one contraction)"));
    }
    let unknown = || refuse("an axis of unknown size");
    let (gx, cx, fx) = (sizes(&x, xl, &groups), sizes(&x, xl, &contracted), sizes(&x, xl, &free_x));
    let (gy, cy, fy) = (sizes(&y, yl, &groups), sizes(&y, yl, &contracted), sizes(&y, yl, &free_y));
    let (Some(gx), Some(cx), Some(fx), Some(gy), Some(cy), Some(fy)) = (gx, cx, fx, gy, cy, fy) else {
        return Err(unknown());
    };
    if gx != gy || cx != cy {
        return Err(refuse(&format!("the operands {:?} and {:?} disagree on a shared axis", x.shape, y.shape)));
    }
    let product = |v: &[usize]| v.iter().product::<usize>();
    let (g, c, nx, ny) = (product(&gx), product(&cx), product(&fx), product(&fy));
    let name = ctx.layer_name(&node.name);
    let shape_of =
        |dims: &[usize]| -> Vec<Option<usize>> { std::iter::once(None).chain(dims.iter().map(|&d| Some(d))).collect() };
    let mut step = 0;
    let mut inner = |ctx: &mut Context, build: &dyn Fn(&str) -> tf2h5_keras::Layer, dims: &[usize]| -> KTensor {
        step += 1;
        ctx.add_inner_layer(build(&format!("{name}_{step}")), shape_of(dims))
    };
    // Each operand as (heads, free, contracted): one matrix per head.
    let mut as_heads = |ctx: &mut Context, t: KTensor, letters: &Letters, free: &Letters, n: usize| -> KTensor {
        let order: Letters = groups.iter().chain(free).chain(&contracted).copied().collect();
        let mut t = t;
        if let Some(dims) = permutation(letters, &order) {
            let shape: Vec<usize> = dims.iter().map(|&d| t.shape[d].unwrap_or(0)).collect();
            let input = t.layer.clone();
            t = inner(ctx, &|n| layers::permute(n, input.clone(), &dims), &shape);
        }
        let input = t.layer.clone();
        inner(ctx, &|name| layers::reshape(name, input.clone(), &[g, n * c]), &[g, n * c])
    };
    let xh = as_heads(ctx, x, xl, &free_x, nx);
    let yh = as_heads(ctx, y, yl, &free_y, ny);
    let mut heads = Vec::with_capacity(g);
    for head in 0..g {
        let mut matrix = |ctx: &mut Context, t: &KTensor, n: usize| -> KTensor {
            let crop = Sides { kind: ResampleKind::Cropping, sides: vec![[head, g - 1 - head]] };
            let input = t.layer.clone();
            let one = inner(
                ctx,
                &|name| LayerSpec::Sides(crop.clone()).layer(name, vec![input.clone()], vec![]),
                &[1, n * c],
            );
            inner(ctx, &|name| layers::reshape(name, one.layer.clone(), &[n, c]), &[n, c])
        };
        let (a, b) = (matrix(ctx, &xh, nx), matrix(ctx, &yh, ny));
        let inputs = vec![a.layer, b.layer];
        let scores = inner(ctx, &|name| layers::dot(name, inputs.clone(), [2, 2]), &[nx, ny]);
        heads.push(inner(ctx, &|name| layers::reshape(name, scores.layer.clone(), &[1, nx, ny]), &[1, nx, ny]));
    }
    let mut result = if g == 1 {
        heads.remove(0)
    } else {
        let inputs: Vec<_> = heads.iter().map(|t| t.layer.clone()).collect();
        inner(ctx, &|name| layers::concatenate(name, inputs.clone(), 1), &[g, nx, ny])
    };
    // Back to the output's axes.
    let current: Letters = groups.iter().chain(&free_x).chain(&free_y).copied().collect();
    let split: Vec<usize> = gx.iter().chain(&fx).chain(&fy).copied().collect();
    if split != [g, nx, ny] {
        let input = result.layer.clone();
        result = inner(ctx, &|name| layers::reshape(name, input.clone(), &split), &split);
    }
    let with_batch: Letters = std::iter::once(' ').chain(current.iter().copied()).collect();
    if let Some(dims) = permutation(&with_batch, &outr) {
        let shape: Vec<usize> = dims.iter().map(|&d| split[d - 1]).collect();
        let input = result.layer.clone();
        result = inner(ctx, &|name| layers::permute(name, input.clone(), &dims), &shape);
    }
    Ok(ctx.fused(node, &result))
}
