//! One convolution spec for every rank and variant (as tract-core has one grouped `Conv`):
//! `Conv{1,2,3}D` (grouped), `DepthwiseConv{1,2}D`, `SeparableConv{1,2}D` and
//! `Conv{1,2,3}DTranspose`, all channels_last.
//!
//! Keras config traps (see `shared/docs/KERAS_H5.md`): Keras 3 rejects `groups` on depthwise
//! and transposed convolutions, so only the standard variant writes it. Kernel layouts, in
//! the loaders' weight order: standard (k…, in / groups, filters); depthwise (k…, in,
//! multiplier); separable a depthwise kernel then a pointwise (1…, in · multiplier, filters);
//! transposed (k…, filters, in). The bias always has one value per output channel.

use ndarray::ArrayD;
use serde_json::{json, Map, Value};

use super::read::Reader;
use super::window::{Padding, Window};
use super::WeightSpec;
use crate::KerasError;

/// Which convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvVariant {
    /// `ConvND`: filter block j reads input channel block j of `groups` (1: a plain conv).
    Standard {
        /// Output channels.
        filters: usize,
        /// Channel groups.
        groups: usize,
    },
    /// `DepthwiseConvND`: output channel `c·m + k` is input channel `c` through kernel `k`.
    Depthwise {
        /// Outputs per input channel.
        depth_multiplier: usize,
    },
    /// `SeparableConvND`: a depthwise convolution, then a 1×…×1 convolution to `filters`.
    Separable {
        /// Output channels.
        filters: usize,
        /// Outputs per input channel of the depthwise step.
        depth_multiplier: usize,
    },
    /// `ConvNDTranspose`: the gradient of a convolution with respect to its input.
    Transposed {
        /// Output channels.
        filters: usize,
        /// Extra cells at the end of each output axis (`None`: Keras infers them).
        output_padding: Option<Vec<usize>>,
    },
}

/// The kind of a [`ConvVariant`], as named in the class (`Conv2D`, `DepthwiseConv2D`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvKind {
    /// `ConvND`.
    Standard,
    /// `DepthwiseConvND`.
    Depthwise,
    /// `SeparableConvND`.
    Separable,
    /// `ConvNDTranspose`.
    Transposed,
}

impl ConvKind {
    /// The ranks Keras has this convolution in.
    pub fn ranks(self) -> std::ops::RangeInclusive<usize> {
        match self {
            ConvKind::Standard | ConvKind::Transposed => 1..=3,
            ConvKind::Depthwise | ConvKind::Separable => 1..=2,
        }
    }

    /// The Keras class of this convolution in `rank` spatial dimensions.
    pub fn class_name(self, rank: usize) -> String {
        match self {
            ConvKind::Standard => format!("Conv{rank}D"),
            ConvKind::Depthwise => format!("DepthwiseConv{rank}D"),
            ConvKind::Separable => format!("SeparableConv{rank}D"),
            ConvKind::Transposed => format!("Conv{rank}DTranspose"),
        }
    }
}

/// A Keras convolution layer of any rank and variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv {
    /// Kernel size, strides, dilation and padding (its rank is the conv's).
    pub window: Window,
    /// Which convolution.
    pub variant: ConvVariant,
    /// Whether the layer has a bias.
    pub use_bias: bool,
    /// The Keras activation name applied last (`linear`: none).
    pub activation: String,
}

impl Conv {
    /// A convolution without bias or activation.
    pub fn new(window: Window, variant: ConvVariant) -> Self {
        Conv { window, variant, use_bias: false, activation: "linear".into() }
    }

    /// The Keras layer for a TF-style grouped convolution of an input with `channels` channels
    /// by `kernel` (k…, channels / groups, filters), with its Keras kernel. The one place that
    /// decides: one input channel per group (and more than one channel) is a depthwise
    /// convolution, whose kernel (k…, 1, c·m) is (k…, c, m) read row-major; otherwise groups =
    /// channels / kernel inputs (1: a plain convolution).
    pub fn grouped(window: Window, channels: usize, kernel: ArrayD<f32>) -> Result<(Conv, ArrayD<f32>), String> {
        let rank = window.rank();
        if kernel.ndim() != rank + 2 || kernel.shape()[..rank] != window.kernel[..] {
            return Err(format!("the filter has shape {:?}, expected ({:?}…, in, out)", kernel.shape(), window.kernel));
        }
        let (kernel_in, filters) = (kernel.shape()[rank], kernel.shape()[rank + 1]);
        if kernel_in == 1 && channels > 1 && filters % channels == 0 {
            let depth_multiplier = filters / channels;
            let mut shape = window.kernel.clone();
            shape.extend([channels, depth_multiplier]);
            let kernel =
                kernel.as_standard_layout().into_owned().into_shape_with_order(shape).map_err(|e| e.to_string())?;
            return Ok((Conv::new(window, ConvVariant::Depthwise { depth_multiplier }), kernel));
        }
        if kernel_in > 0 && channels >= kernel_in && channels.is_multiple_of(kernel_in) {
            let groups = channels / kernel_in;
            if filters.is_multiple_of(groups) {
                return Ok((Conv::new(window, ConvVariant::Standard { filters, groups }), kernel));
            }
        }
        Err(format!(
            "an input of {channels} channels does not match filter {:?} (no whole number of groups)",
            kernel.shape()
        ))
    }

    /// The layer called `name` reading `input`, with `kernels` (one, or the depthwise then the
    /// pointwise kernel of a separable convolution) and the bias, if any.
    pub fn layer(
        mut self,
        name: &str,
        input: crate::LayerOutput,
        kernels: Vec<ArrayD<f32>>,
        bias: Option<ArrayD<f32>>,
    ) -> crate::Layer {
        self.use_bias = bias.is_some();
        let names = self.weights(None).into_iter().map(|w| w.name);
        let weights = names.zip(kernels.into_iter().chain(bias)).map(|(n, v)| crate::Weight::new(n, v)).collect();
        super::LayerSpec::Conv(self).layer(name, vec![input], weights)
    }

    /// The number of spatial axes.
    pub fn rank(&self) -> usize {
        self.window.rank()
    }

    /// The kind of convolution.
    pub fn kind(&self) -> ConvKind {
        match self.variant {
            ConvVariant::Standard { .. } => ConvKind::Standard,
            ConvVariant::Depthwise { .. } => ConvKind::Depthwise,
            ConvVariant::Separable { .. } => ConvKind::Separable,
            ConvVariant::Transposed { .. } => ConvKind::Transposed,
        }
    }

    /// Output channels for an input of `in_channels`.
    pub fn out_channels(&self, in_channels: usize) -> usize {
        match self.variant {
            ConvVariant::Standard { filters, .. }
            | ConvVariant::Separable { filters, .. }
            | ConvVariant::Transposed { filters, .. } => filters,
            ConvVariant::Depthwise { depth_multiplier } => in_channels.saturating_mul(depth_multiplier),
        }
    }

    /// The weights in the loaders' order; dimensions that depend on the unknown input
    /// channels are `None`.
    pub fn weights(&self, in_channels: Option<usize>) -> Vec<WeightSpec> {
        let spatial = |last: [Option<usize>; 2]| -> Vec<Option<usize>> {
            self.window.kernel.iter().map(|&k| Some(k)).chain(last).collect()
        };
        let times = |m: usize| in_channels.map(|c| c.saturating_mul(m));
        let mut weights = match &self.variant {
            ConvVariant::Standard { filters, groups } => {
                vec![WeightSpec::new("kernel", spatial([in_channels.map(|c| c / groups), Some(*filters)]))]
            }
            ConvVariant::Depthwise { depth_multiplier: m } => {
                vec![WeightSpec::new("depthwise_kernel", spatial([in_channels, Some(*m)]))]
            }
            ConvVariant::Separable { filters, depth_multiplier: m } => {
                let mut pointwise = vec![Some(1); self.rank()];
                pointwise.extend([times(*m), Some(*filters)]);
                vec![
                    WeightSpec::new("depthwise_kernel", spatial([in_channels, Some(*m)])),
                    WeightSpec::new("pointwise_kernel", pointwise),
                ]
            }
            ConvVariant::Transposed { filters, .. } => {
                vec![WeightSpec::new("kernel", spatial([Some(*filters), in_channels]))]
            }
        };
        if self.use_bias {
            let out = match self.variant {
                ConvVariant::Depthwise { depth_multiplier } => times(depth_multiplier),
                _ => Some(self.out_channels(0)),
            };
            weights.push(WeightSpec::new("bias", vec![out]));
        }
        weights
    }

    /// The output shape (batch first, channels last) for an input shape, `None` where unknown.
    pub fn output_shape(&self, input: &[Option<usize>]) -> Result<Vec<Option<usize>>, String> {
        let rank = self.rank();
        if input.len() != rank + 2 {
            return Err(format!("a {rank}-D convolution needs a rank-{} input, got {input:?}", rank + 2));
        }
        let spatial = match &self.variant {
            ConvVariant::Transposed { output_padding, .. } => (0..rank)
                .map(|a| input[a + 1].map(|len| self.transposed_length(a, len, output_padding.as_deref())))
                .collect(),
            _ => self.window.output_lengths(&input[1..=rank])?,
        };
        let channels = input[rank + 1].map(|c| self.out_channels(c));
        Ok([vec![input[0]], spatial, vec![channels]].concat())
    }

    /// Keras's `deconv_output_length` on spatial axis `axis`.
    pub fn transposed_length(&self, axis: usize, input: usize, output_padding: Option<&[usize]>) -> usize {
        let (kernel, stride, dilation) =
            (self.window.kernel[axis], self.window.strides[axis], self.window.dilation[axis]);
        let kernel = (kernel - 1) * dilation + 1;
        match output_padding {
            None => match self.window.padding {
                Padding::Valid => input * stride + kernel.saturating_sub(stride),
                _ => input * stride,
            },
            Some(extra) => {
                let pad = if self.window.padding == Padding::Valid { 0 } else { kernel / 2 };
                ((input.saturating_sub(1)) * stride + kernel + extra[axis]).saturating_sub(2 * pad)
            }
        }
    }

    /// The Keras config keys (after `name`, `trainable`, `dtype`).
    pub(crate) fn config(&self) -> Map<String, Value> {
        let mut config = Map::new();
        let w = &self.window;
        if let ConvVariant::Standard { filters, .. }
        | ConvVariant::Separable { filters, .. }
        | ConvVariant::Transposed { filters, .. } = self.variant
        {
            config.insert("filters".into(), json!(filters));
        }
        config.insert("kernel_size".into(), json!(w.kernel));
        config.insert("strides".into(), json!(w.strides));
        config.insert("padding".into(), json!(w.padding.as_str()));
        if let ConvVariant::Transposed { output_padding, .. } = &self.variant {
            config.insert("output_padding".into(), json!(output_padding));
        }
        config.insert("data_format".into(), json!("channels_last"));
        config.insert("dilation_rate".into(), json!(w.dilation));
        match self.variant {
            ConvVariant::Standard { groups, .. } => {
                config.insert("groups".into(), json!(groups));
            }
            ConvVariant::Depthwise { depth_multiplier } | ConvVariant::Separable { depth_multiplier, .. } => {
                config.insert("depth_multiplier".into(), json!(depth_multiplier));
            }
            ConvVariant::Transposed { .. } => {}
        }
        config.insert("activation".into(), json!(self.activation));
        config.insert("use_bias".into(), json!(self.use_bias));
        config
    }

    /// Parses a `kind` convolution of `rank` from a layer's config.
    pub(crate) fn parse(r: &Reader<'_>, kind: ConvKind, rank: usize) -> Result<Self, KerasError> {
        r.require_channels_last()?;
        let ones = vec![1; rank];
        let kernel = r.tuple("kernel_size", rank, 1, None)?;
        let strides = r.tuple("strides", rank, 1, Some(&ones))?;
        let dilation = r.tuple("dilation_rate", rank, 1, Some(&ones))?;
        let padding = r.str_or("padding", "valid")?;
        let padding = Padding::parse(padding).ok_or_else(|| r.unsupported(format!("padding '{padding}'")))?;
        let window = Window { kernel, strides, dilation, padding };
        window.check().map_err(|e| r.invalid(e))?;
        let filters = || {
            r.usize_or("filters", 0, 1).and_then(|f| {
                if f == 0 {
                    Err(r.invalid("config key 'filters' is missing"))
                } else {
                    Ok(f)
                }
            })
        };
        let variant = match kind {
            ConvKind::Standard => ConvVariant::Standard { filters: filters()?, groups: r.usize_or("groups", 1, 1)? },
            ConvKind::Depthwise => ConvVariant::Depthwise { depth_multiplier: r.usize_or("depth_multiplier", 1, 1)? },
            ConvKind::Separable => {
                ConvVariant::Separable { filters: filters()?, depth_multiplier: r.usize_or("depth_multiplier", 1, 1)? }
            }
            ConvKind::Transposed => {
                let output_padding = match r.value("output_padding") {
                    None => None,
                    Some(_) => Some(r.tuple("output_padding", rank, 0, None)?),
                };
                if r.usize_or("groups", 1, 1)? != 1 {
                    return Err(r.unsupported("groups > 1"));
                }
                ConvVariant::Transposed { filters: filters()?, output_padding }
            }
        };
        if kind != ConvKind::Standard && padding == Padding::Causal {
            return Err(r.unsupported("padding 'causal'"));
        }
        Ok(Conv {
            window,
            variant,
            use_bias: r.bool_or("use_bias", true)?,
            activation: r.str_or("activation", "linear")?.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_input_channel_per_group_is_depthwise_once() {
        let window = Window::new(vec![3, 3], Padding::Same);
        let (conv, kernel) = Conv::grouped(window.clone(), 4, ArrayD::zeros(vec![3, 3, 1, 8])).unwrap();
        assert_eq!(conv.variant, ConvVariant::Depthwise { depth_multiplier: 2 });
        assert_eq!(kernel.shape(), [3, 3, 4, 2]);
        let (conv, _) = Conv::grouped(window.clone(), 4, ArrayD::zeros(vec![3, 3, 2, 6])).unwrap();
        assert_eq!(conv.variant, ConvVariant::Standard { filters: 6, groups: 2 });
        let (conv, _) = Conv::grouped(window.clone(), 1, ArrayD::zeros(vec![3, 3, 1, 6])).unwrap();
        assert_eq!(conv.variant, ConvVariant::Standard { filters: 6, groups: 1 });
        assert!(Conv::grouped(window, 4, ArrayD::zeros(vec![3, 3, 3, 6])).is_err());
    }

    #[test]
    fn weights_follow_the_loaders() {
        let mut conv =
            Conv::new(Window::new(vec![3], Padding::Valid), ConvVariant::Separable { filters: 5, depth_multiplier: 2 });
        conv.use_bias = true;
        let names: Vec<_> = conv.weights(Some(4)).into_iter().map(|w| (w.name, w.shape)).collect();
        assert_eq!(
            names,
            [
                ("depthwise_kernel", vec![Some(3), Some(4), Some(2)]),
                ("pointwise_kernel", vec![Some(1), Some(8), Some(5)]),
                ("bias", vec![Some(5)])
            ]
        );
        let transposed = Conv::new(
            Window { kernel: vec![4, 4], strides: vec![2, 2], dilation: vec![1, 1], padding: Padding::Same },
            ConvVariant::Transposed { filters: 3, output_padding: None },
        );
        assert_eq!(transposed.weights(None)[0].shape, [Some(4), Some(4), Some(3), None]);
        assert_eq!(
            transposed.output_shape(&[None, Some(7), Some(8), Some(2)]).unwrap(),
            [None, Some(14), Some(16), Some(3)]
        );
        assert!(!transposed.config().contains_key("groups"), "Keras 3 rejects groups on transposed convolutions");
    }
}
