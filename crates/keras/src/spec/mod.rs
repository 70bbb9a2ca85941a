//! One typed spec per Keras layer family: the single source of truth for a layer's config
//! keys (only those both tf-keras 2 and Keras 3 accept, see `shared/docs/KERAS_H5.md`), its
//! weights (names, shapes, the loaders' order) and, for windowed layers, its geometry in any
//! rank.
//!
//! A [`Layer`] keeps the file-level form (class name, config JSON, weights). The converter
//! builds layers from specs ([`LayerSpec::layer`]); the h5 writer and reader check each
//! layer against its parsed spec ([`LayerSpec::parse`], [`LayerSpec::check_weights`]); the
//! engine parses each layer once and runs one kernel per family. [`Family`] is the one table
//! of class names: every class tf2h5 knows is listed there, with the family that parses it.
//!
//! Adding a family: its spec (config, parse, weights) in a file here, a [`Family`] and a
//! [`LayerSpec`] variant, then the engine kernel and the converter rule that build it.

mod conv;
mod pool;
mod read;
mod recurrent;
mod resample;
mod window;

use ndarray::ArrayD;
use serde_json::{json, Map, Value};

pub use conv::{Conv, ConvKind, ConvVariant};
pub use pool::{GlobalPool, Pool, PoolKind};
pub use recurrent::{
    Cell, DirectionWeights, Recurrent, RecurrentClass, BACKWARD_WEIGHTS, BIDIRECTIONAL_INNER_NAME, CELL_WEIGHTS,
    FORWARD_WEIGHTS,
};
pub use resample::{ResampleKind, Sides, UpSampling};
pub use window::{AxisWindow, Padding, Window};

use crate::{KerasError, Layer, LayerError, LayerOutput, Weight};
pub use read::Reader;

/// A weight a spec expects: its short name and shape (`None` where it depends on an input
/// dimension that is not known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSpec {
    /// Short name, e.g. `kernel`.
    pub name: &'static str,
    /// Expected shape.
    pub shape: Vec<Option<usize>>,
}

impl WeightSpec {
    fn new(name: &'static str, shape: Vec<Option<usize>>) -> Self {
        WeightSpec { name, shape }
    }
}

/// `Dense`: `activation(x · kernel + bias)` over the last axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dense {
    /// Output size.
    pub units: usize,
    /// Whether the layer has a bias.
    pub use_bias: bool,
    /// The Keras activation name (`linear`: none).
    pub activation: String,
}

/// `Embedding`: row `i` of `embeddings` (input_dim, output_dim) for each integer index `i`
/// of the input. With `mask_zero` its output carries the Keras mask `ids != 0`, which the
/// recurrent layers reading it apply (the engine's `mask` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embedding {
    /// Number of rows: valid indices are `0..input_dim`.
    pub input_dim: usize,
    /// Length of each row.
    pub output_dim: usize,
    /// Index 0 is padding: the output carries the mask `ids != 0`.
    pub mask_zero: bool,
}

/// `BatchNormalization` (`batch: true`, with moving statistics) or `LayerNormalization`.
#[derive(Debug, Clone, PartialEq)]
pub struct Norm {
    /// `BatchNormalization` rather than `LayerNormalization`.
    pub batch: bool,
    /// The normalised axes (absolute incl. batch, or negative): exactly one for
    /// `BatchNormalization`; any set for `LayerNormalization`, whose `gamma` and `beta` then
    /// have the input's sizes on those axes, in increasing axis order.
    pub axes: Vec<i64>,
    /// Added to the variance.
    pub epsilon: f64,
    /// Whether there is a `beta` offset.
    pub center: bool,
    /// Whether there is a `gamma` scale.
    pub scale: bool,
}

macro_rules! plain_classes {
    ($($variant:ident),* $(,)?) => {
        /// Layers without weights whose few config keys their engine kernel reads itself.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Plain { $($variant),* }

        impl Plain {
            /// Every plain class.
            pub const ALL: &'static [Plain] = &[$(Plain::$variant),*];

            /// The Keras class name.
            pub fn class_name(self) -> &'static str {
                match self { $(Plain::$variant => stringify!($variant)),* }
            }
        }
    };
}

plain_classes!(
    Activation,
    ReLU,
    LeakyReLU,
    Softmax,
    Flatten,
    Reshape,
    Permute,
    Add,
    Subtract,
    Multiply,
    Maximum,
    Minimum,
    Average,
    Concatenate,
    Dot,
    Dropout,
    Rescaling,
    Masking,
);

/// A Keras layer class, as the family that parses it plus that family's parameters in the
/// class name (rank, variant). [`Family::ALL`] is the table of every class tf2h5 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `InputLayer`.
    Input,
    /// `Dense`.
    Dense,
    /// `Embedding`.
    Embedding,
    /// Convolutions of `rank` spatial axes.
    Conv(ConvKind, usize),
    /// Windowed pools.
    Pool(PoolKind, usize),
    /// Global pools.
    GlobalPool(PoolKind, usize),
    /// `ZeroPadding`, `Cropping`, `UpSampling`.
    Resample(ResampleKind, usize),
    /// `BatchNormalization`.
    BatchNorm,
    /// `LayerNormalization`.
    LayerNorm,
    /// `Normalization` (preprocessing).
    Normalization,
    /// `LSTM`, `GRU`, `SimpleRNN`, `Bidirectional`.
    Recurrent(RecurrentClass),
    /// Weight-less layers read by their kernel.
    Plain(Plain),
}

impl Family {
    /// Every class tf2h5 knows, each once.
    pub fn all() -> Vec<Family> {
        let mut all = vec![
            Family::Input,
            Family::Dense,
            Family::Embedding,
            Family::BatchNorm,
            Family::LayerNorm,
            Family::Normalization,
        ];
        for kind in [ConvKind::Standard, ConvKind::Depthwise, ConvKind::Separable, ConvKind::Transposed] {
            all.extend(kind.ranks().map(|rank| Family::Conv(kind, rank)));
        }
        for rank in 1..=3 {
            for kind in [PoolKind::Max, PoolKind::Average] {
                all.extend([Family::Pool(kind, rank), Family::GlobalPool(kind, rank)]);
            }
            for kind in [ResampleKind::ZeroPadding, ResampleKind::Cropping, ResampleKind::UpSampling] {
                all.push(Family::Resample(kind, rank));
            }
        }
        all.extend(RecurrentClass::ALL.map(Family::Recurrent));
        all.extend(Plain::ALL.iter().map(|&p| Family::Plain(p)));
        all
    }

    /// The Keras class name.
    pub fn class_name(self) -> String {
        match self {
            Family::Input => "InputLayer".into(),
            Family::Dense => "Dense".into(),
            Family::Embedding => "Embedding".into(),
            Family::Conv(kind, rank) => kind.class_name(rank),
            Family::Pool(kind, rank) => kind.class_name(rank),
            Family::GlobalPool(kind, rank) => kind.global_class_name(rank),
            Family::Resample(kind, rank) => kind.class_name(rank),
            Family::BatchNorm => "BatchNormalization".into(),
            Family::LayerNorm => "LayerNormalization".into(),
            Family::Normalization => "Normalization".into(),
            Family::Recurrent(class) => class.class_name().into(),
            Family::Plain(plain) => plain.class_name().into(),
        }
    }

    /// The family of a Keras class name, if tf2h5 knows it.
    pub fn of(class_name: &str) -> Option<Family> {
        Family::all().into_iter().find(|f| f.class_name() == class_name)
    }
}

/// A layer's parsed spec.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// `InputLayer` (the graph runner feeds it).
    Input,
    /// `Dense`.
    Dense(Dense),
    /// `Embedding`.
    Embedding(Embedding),
    /// Any convolution.
    Conv(Conv),
    /// A windowed pool.
    Pool(Pool),
    /// A global pool.
    GlobalPool(GlobalPool),
    /// Zero padding or cropping.
    Sides(Sides),
    /// Nearest upsampling.
    UpSampling(UpSampling),
    /// Batch or layer normalization.
    Norm(Norm),
    /// `Normalization`; `adapted` when its statistics are weights instead of config values.
    Normalization {
        /// Statistics stored as weights `mean`, `variance`, `count`.
        adapted: bool,
    },
    /// A recurrent layer.
    Recurrent(Recurrent),
    /// A weight-less layer.
    Plain(Plain),
}

impl LayerSpec {
    /// Parses `layer`'s class and config. An unknown class or unsupported option is a
    /// [`KerasError::Unsupported`]; a malformed config a [`LayerError::Config`].
    pub fn parse(layer: &Layer) -> Result<Self, KerasError> {
        let r = Reader { layer };
        let family = Family::of(&layer.class_name)
            .ok_or_else(|| KerasError::Unsupported { layer: layer.name.clone(), what: layer.class_name.clone() })?;
        Ok(match family {
            Family::Input => LayerSpec::Input,
            Family::Dense => LayerSpec::Dense(Dense {
                units: r.usize_or("units", 0, 1)?,
                use_bias: r.bool_or("use_bias", true)?,
                activation: r.str_or("activation", "linear")?.to_string(),
            }),
            Family::Embedding => {
                if r.value("lora_rank").is_some() {
                    return Err(r.unsupported("lora_rank"));
                }
                LayerSpec::Embedding(Embedding {
                    input_dim: r.usize_or("input_dim", 0, 1)?,
                    output_dim: r.usize_or("output_dim", 0, 1)?,
                    mask_zero: r.bool_or("mask_zero", false)?,
                })
            }
            Family::Conv(kind, rank) => LayerSpec::Conv(Conv::parse(&r, kind, rank)?),
            Family::Pool(kind, rank) => LayerSpec::Pool(Pool::parse(&r, kind, rank)?),
            Family::GlobalPool(kind, rank) => LayerSpec::GlobalPool(GlobalPool::parse(&r, kind, rank)?),
            Family::Resample(ResampleKind::UpSampling, rank) => LayerSpec::UpSampling(UpSampling::parse(&r, rank)?),
            Family::Resample(kind, rank) => LayerSpec::Sides(Sides::parse(&r, kind, rank)?),
            Family::BatchNorm | Family::LayerNorm => {
                if r.bool_or("rms_scaling", false)? {
                    return Err(r.unsupported("rms_scaling=true"));
                }
                let batch = family == Family::BatchNorm;
                LayerSpec::Norm(Norm {
                    batch,
                    axes: if batch { vec![r.axis_or("axis", -1)?] } else { r.axes_or("axis", -1)? },
                    epsilon: r.f64_or("epsilon", 1e-3)?,
                    center: r.bool_or("center", true)?,
                    scale: r.bool_or("scale", true)?,
                })
            }
            Family::Normalization => LayerSpec::Normalization { adapted: r.value("mean").is_none() },
            Family::Recurrent(class) => LayerSpec::Recurrent(Recurrent::parse(&r, class)?),
            Family::Plain(plain) => LayerSpec::Plain(plain),
        })
    }

    /// The layer called `name` reading `inbound`, with this spec's config and `weights`
    /// (which must follow [`weights`](Self::weights)). Not for plain layers, whose
    /// constructors are in [`crate::layers`].
    pub fn layer(&self, name: &str, inbound: Vec<LayerOutput>, weights: Vec<Weight>) -> Layer {
        let mut layer = Layer {
            name: name.into(),
            class_name: self.class_name(),
            config: crate::layers::base_config(name),
            inbound,
            weights,
        };
        self.write_config(&mut layer.config);
        layer
    }

    /// The Keras class name.
    pub fn class_name(&self) -> String {
        self.family().class_name()
    }

    /// The family (class) of this spec.
    pub fn family(&self) -> Family {
        match self {
            LayerSpec::Input => Family::Input,
            LayerSpec::Dense(_) => Family::Dense,
            LayerSpec::Embedding(_) => Family::Embedding,
            LayerSpec::Conv(conv) => Family::Conv(conv.kind(), conv.rank()),
            LayerSpec::Pool(pool) => Family::Pool(pool.kind, pool.window.rank()),
            LayerSpec::GlobalPool(pool) => Family::GlobalPool(pool.kind, pool.rank),
            LayerSpec::Sides(sides) => Family::Resample(sides.kind, sides.sides.len()),
            LayerSpec::UpSampling(up) => Family::Resample(ResampleKind::UpSampling, up.size.len()),
            LayerSpec::Norm(norm) if norm.batch => Family::BatchNorm,
            LayerSpec::Norm(_) => Family::LayerNorm,
            LayerSpec::Normalization { .. } => Family::Normalization,
            LayerSpec::Recurrent(recurrent) => Family::Recurrent(recurrent.class()),
            LayerSpec::Plain(plain) => Family::Plain(*plain),
        }
    }

    /// How many tensors the layer returns (see [`crate::LayerOutput`]): 1 but for a
    /// recurrent layer with `return_state`.
    pub fn output_count(&self) -> usize {
        match self {
            LayerSpec::Recurrent(recurrent) => recurrent.output_count(),
            _ => 1,
        }
    }

    /// Writes this spec's keys into `config` (keeping `name`, `trainable`, `dtype`).
    pub fn write_config(&self, config: &mut Map<String, Value>) {
        let keys = match self {
            LayerSpec::Dense(d) => {
                json!({"units": d.units, "activation": d.activation, "use_bias": d.use_bias}).as_object().cloned()
            }
            LayerSpec::Embedding(e) => {
                json!({"input_dim": e.input_dim, "output_dim": e.output_dim, "mask_zero": e.mask_zero})
                    .as_object()
                    .cloned()
            }
            LayerSpec::Conv(conv) => Some(conv.config()),
            LayerSpec::Pool(pool) => Some(pool.config()),
            LayerSpec::GlobalPool(pool) => Some(pool.config()),
            LayerSpec::Sides(sides) => Some(sides.config()),
            LayerSpec::UpSampling(up) => Some(up.config()),
            LayerSpec::Norm(n) => {
                let mut keys = Map::new();
                if n.batch {
                    keys.insert("axis".into(), json!(n.axes.first().copied().unwrap_or(-1)));
                    keys.insert("momentum".into(), json!(0.99));
                } else {
                    keys.insert("axis".into(), json!(n.axes));
                }
                keys.insert("epsilon".into(), json!(n.epsilon));
                keys.insert("center".into(), json!(n.center));
                keys.insert("scale".into(), json!(n.scale));
                Some(keys)
            }
            // Their constructors in `layers` write these configs.
            LayerSpec::Input | LayerSpec::Normalization { .. } | LayerSpec::Recurrent(_) | LayerSpec::Plain(_) => None,
        };
        config.extend(keys.unwrap_or_default());
    }

    /// The weights in the loaders' order, for an input with `channels` on its last axis
    /// (`None`: unknown, the dimensions depending on it are then unchecked).
    pub fn weights(&self, channels: Option<usize>) -> Vec<WeightSpec> {
        let channel = |name| WeightSpec::new(name, vec![channels]);
        match self {
            LayerSpec::Dense(d) => {
                let mut weights = vec![WeightSpec::new("kernel", vec![channels, Some(d.units)])];
                if d.use_bias {
                    weights.push(WeightSpec::new("bias", vec![Some(d.units)]));
                }
                weights
            }
            LayerSpec::Embedding(e) => {
                vec![WeightSpec::new("embeddings", vec![Some(e.input_dim), Some(e.output_dim)])]
            }
            LayerSpec::Conv(conv) => conv.weights(channels),
            LayerSpec::Recurrent(recurrent) => recurrent.weights(channels),
            LayerSpec::Norm(n) => {
                // Over several axes (or one that may not be the last) the shapes depend on
                // input sizes other than the channels: only the rank is checked here.
                let param = |name| {
                    if n.batch || n.axes == [-1] {
                        channel(name)
                    } else {
                        WeightSpec::new(name, vec![None; n.axes.len()])
                    }
                };
                let mut weights = Vec::new();
                if n.scale {
                    weights.push(param("gamma"));
                }
                if n.center {
                    weights.push(param("beta"));
                }
                if n.batch {
                    weights.extend([channel("moving_mean"), channel("moving_variance")]);
                }
                weights
            }
            LayerSpec::Normalization { adapted: true } => {
                vec![channel("mean"), channel("variance"), WeightSpec::new("count", vec![])]
            }
            _ => vec![],
        }
    }

    /// `layer`'s weights, checked against [`weights`](Self::weights)`(channels)`: the names
    /// in order and every known dimension.
    pub fn check_weights<'a>(
        &self,
        layer: &'a Layer,
        channels: Option<usize>,
    ) -> Result<Vec<&'a ArrayD<f32>>, KerasError> {
        let expected = self.weights(channels);
        let names: Vec<&str> = layer.weights.iter().map(|w| w.name.as_str()).collect();
        if names.len() != expected.len() || names.iter().zip(&expected).any(|(n, e)| *n != e.name) {
            let expected: Vec<&str> = expected.iter().map(|w| w.name).collect();
            return Err(LayerError::Config {
                layer: layer.name.clone(),
                message: format!("{} has weights {names:?}, but Keras expects {expected:?}", layer.class_name),
            }
            .into());
        }
        for (weight, spec) in layer.weights.iter().zip(&expected) {
            let shape = weight.value.shape();
            let fits = shape.len() == spec.shape.len()
                && shape.iter().zip(&spec.shape).all(|(a, e)| e.is_none_or(|e| e == *a));
            if !fits {
                return Err(LayerError::Shape {
                    layer: layer.name.clone(),
                    message: format!(
                        "{}: weight '{}' is {shape:?}, expected {:?} (None: any)",
                        layer.class_name, spec.name, spec.shape
                    ),
                }
                .into());
            }
        }
        Ok(layer.weights.iter().map(|w| &w.value).collect())
    }

    /// The activation a following TF activation may be fused into: `Some` for a layer with a
    /// `linear` activation key (dense and convolutions).
    fn activation_mut(&mut self) -> Option<&mut String> {
        match self {
            LayerSpec::Dense(Dense { activation, .. }) | LayerSpec::Conv(Conv { activation, .. }) => {
                Some(activation).filter(|a| a.as_str() == "linear")
            }
            _ => None,
        }
    }

    /// Whether a following activation can become this layer's `activation`.
    pub fn can_absorb_activation(&self) -> bool {
        self.clone().activation_mut().is_some()
    }

    /// Makes `activation` this layer's activation, if [`can_absorb_activation`](Self::can_absorb_activation).
    pub fn absorb_activation(&mut self, activation: &str) -> bool {
        self.activation_mut().map(|a| *a = activation.to_string()).is_some()
    }

    /// Whether a following per-output-channel bias can become this layer's bias: a dense or
    /// convolution layer without bias, whose activation (applied after the bias) is linear.
    pub fn can_absorb_bias(&self) -> bool {
        match self {
            LayerSpec::Dense(Dense { use_bias, activation, .. })
            | LayerSpec::Conv(Conv { use_bias, activation, .. }) => !use_bias && activation == "linear",
            _ => false,
        }
    }

    /// Sets `use_bias`, if [`can_absorb_bias`](Self::can_absorb_bias); the caller appends
    /// the `bias` weight.
    pub fn absorb_bias(&mut self) -> bool {
        let able = self.can_absorb_bias();
        if let (true, LayerSpec::Dense(Dense { use_bias, .. }) | LayerSpec::Conv(Conv { use_bias, .. })) = (able, self)
        {
            *use_bias = true;
        }
        able
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_parses_back_to_its_family() {
        let all = Family::all();
        let names: std::collections::HashSet<String> = all.iter().map(|f| f.class_name()).collect();
        assert_eq!(names.len(), all.len(), "class names are unique");
        for family in all {
            assert_eq!(Family::of(&family.class_name()), Some(family));
        }
    }

    #[test]
    fn specs_round_trip_through_their_config() {
        let window = Window { kernel: vec![3, 2], strides: vec![2, 1], dilation: vec![1, 1], padding: Padding::Same };
        let specs = [
            LayerSpec::Conv(Conv::new(window.clone(), ConvVariant::Standard { filters: 4, groups: 2 })),
            LayerSpec::Conv(Conv::new(
                Window::new(vec![5], Padding::Causal),
                ConvVariant::Standard { filters: 4, groups: 1 },
            )),
            LayerSpec::Conv(Conv::new(window.clone(), ConvVariant::Depthwise { depth_multiplier: 3 })),
            LayerSpec::Pool(Pool { kind: PoolKind::Average, window: Window::new(vec![2, 2, 2], Padding::Valid) }),
            LayerSpec::GlobalPool(GlobalPool { kind: PoolKind::Max, rank: 1, keepdims: true }),
            LayerSpec::Sides(Sides { kind: ResampleKind::Cropping, sides: vec![[1, 2]] }),
            LayerSpec::Sides(Sides { kind: ResampleKind::ZeroPadding, sides: vec![[1, 2], [0, 0], [3, 3]] }),
            LayerSpec::UpSampling(UpSampling { size: vec![3] }),
            LayerSpec::Dense(Dense { units: 3, use_bias: true, activation: "relu".into() }),
            LayerSpec::Embedding(Embedding { input_dim: 50, output_dim: 8, mask_zero: false }),
            LayerSpec::Embedding(Embedding { input_dim: 50, output_dim: 8, mask_zero: true }),
            LayerSpec::Norm(Norm { batch: false, axes: vec![-1], epsilon: 1e-5, center: true, scale: false }),
            LayerSpec::Norm(Norm { batch: false, axes: vec![1, 2], epsilon: 1e-6, center: false, scale: true }),
        ];
        for spec in specs {
            let layer = spec.layer("l", vec!["x".into()], vec![]);
            assert_eq!(LayerSpec::parse(&layer).unwrap(), spec, "{}", layer.class_name);
        }
    }

    #[test]
    fn weights_are_checked_by_name_order_and_shape() {
        let dense = LayerSpec::Dense(Dense { units: 2, use_bias: true, activation: "linear".into() });
        let weights =
            vec![Weight::new("kernel", ArrayD::zeros(vec![3, 2])), Weight::new("bias", ArrayD::zeros(vec![2]))];
        let layer = dense.layer("d", vec!["x".into()], weights);
        assert_eq!(dense.check_weights(&layer, Some(3)).unwrap().len(), 2);
        assert!(dense.check_weights(&layer, Some(4)).is_err());
        let mut swapped = layer.clone();
        swapped.weights.reverse();
        assert!(dense.check_weights(&swapped, None).is_err());
        let mut unknown = layer;
        unknown.class_name = "Dense3D".into();
        assert!(matches!(LayerSpec::parse(&unknown), Err(KerasError::Unsupported { .. })));
    }

    #[test]
    fn recurrent_weights_follow_the_loaders() {
        let options = crate::layers::RecurrentOptions {
            return_sequences: false,
            go_backwards: false,
            return_state: false,
            activation: "tanh",
            recurrent_activation: "sigmoid",
        };
        let gru = |bias: Option<ArrayD<f32>>| {
            let kind = crate::layers::RecurrentKind::Gru { reset_after: true };
            let (kernel, recurrent) = (ArrayD::zeros(vec![2, 3]), ArrayD::zeros(vec![1, 3]));
            crate::layers::recurrent("g", "x".into(), kind, options, kernel, recurrent, bias)
        };
        let names = |layer: &Layer| -> Vec<&str> {
            LayerSpec::parse(layer).unwrap().weights(None).iter().map(|w| w.name).collect()
        };
        assert_eq!(names(&gru(None)), ["kernel", "recurrent_kernel"]);
        let with_bias = gru(Some(ArrayD::zeros(vec![2, 3])));
        LayerSpec::parse(&with_bias).unwrap().check_weights(&with_bias, Some(2)).unwrap();
        assert!(!with_bias.config.contains_key("time_major"), "Keras 3 rejects time_major");
        let backward = with_bias.weights.iter().map(|w| w.value.clone()).collect();
        let both = crate::layers::bidirectional("b", with_bias, backward, "sum");
        LayerSpec::parse(&both).unwrap().check_weights(&both, Some(2)).unwrap();
        assert_eq!(names(&both).len(), 6);
    }

    #[test]
    fn fusion_rules() {
        let mut conv = LayerSpec::Conv(Conv::new(
            Window::new(vec![1, 1], Padding::Valid),
            ConvVariant::Depthwise { depth_multiplier: 1 },
        ));
        assert!(conv.can_absorb_bias() && conv.absorb_activation("relu"));
        assert!(!conv.can_absorb_bias() && !conv.can_absorb_activation());
        assert!(!LayerSpec::Plain(Plain::Add).can_absorb_bias());
    }
}
