//! TF `Conv2D` → Keras `Conv2D`.
//!
//! Kernel layouts agree (HWIO). Traps: SAME with stride > 1 pads asymmetrically in TF, which
//! Keras `same` reproduces exactly; explicit `Pad` + VALID arrives as a separate node and
//! becomes `ZeroPadding2D`; `dilations` must be carried over (tract ignores them); a
//! kernel with fewer input channels than the input means grouped convolution (refused).

use tf2h5_keras::layers::{self, Window2D};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn conv2d(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    let input = ctx.tensor_input(node, 0)?;
    let kernel = ctx.f32_input(node, 1)?;
    if kernel.ndim() != 4 {
        return Err(ctx.refuse(node, format!("the filter has shape {:?}, expected (h, w, in, out)", kernel.shape())));
    }
    if input.rank() != 4 || input.shape[3] != Some(kernel.shape()[2]) {
        return Err(ctx.refuse(
            node,
            format!("input {:?} does not match filter {:?} (grouped convolutions are not supported)", input.shape, kernel.shape()),
        ));
    }
    let window = Window2D {
        size: [kernel.shape()[0], kernel.shape()[1]],
        strides: super::spatial_pair(ctx, node, "strides", None)?,
        padding: super::padding(ctx, node)?,
        dilation: super::spatial_pair(ctx, node, "dilations", Some([1, 1]))?,
    };
    if window.dilation != [1, 1] && window.strides != [1, 1] {
        return Err(ctx.refuse(node, "dilation together with strides is not supported by Keras Conv2D"));
    }
    let filters = kernel.shape()[3];
    let shape = super::window_output_shape(ctx, node, &input.shape, &window, Some(filters))?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::conv2d(&name, input.layer, window, kernel, None, "linear"), shape))
}
