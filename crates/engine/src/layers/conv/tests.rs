//! The convolution family against a direct definition, in every rank and variant.

use ndarray::{ArrayD, Dimension, IxDyn};
use tf2h5_keras::spec::{AxisWindow, Conv, ConvVariant, LayerSpec, Padding, Window};

use super::apply;
use crate::tensor::Input;

fn run(conv: Conv, kernels: Vec<ArrayD<f32>>, bias: Option<ArrayD<f32>>, x: ArrayD<f32>) -> ArrayD<f32> {
    let layer = conv.layer("conv", "x".into(), kernels, bias);
    let spec = LayerSpec::parse(&layer).unwrap();
    apply(&spec, &layer, vec![Input::Owned(x)]).unwrap()
}

fn ramp(shape: &[usize], scale: f32) -> ArrayD<f32> {
    let mut i = 0.0f32;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        i += 1.0;
        ((i * 7.0) % 13.0 - 6.0) * scale
    })
}

fn window(kernel: &[usize], s: usize, d: usize, padding: Padding) -> Window {
    let rank = kernel.len();
    Window { kernel: kernel.to_vec(), strides: vec![s; rank], dilation: vec![d; rank], padding }
}

/// Direct definition of a grouped channels_last convolution of any rank (`depthwise`: the
/// kernel is (k…, in, m) and output `c·m + k` reads channel `c`).
fn reference(x: &ArrayD<f32>, k: &ArrayD<f32>, w: &Window, groups: usize, depthwise: bool) -> ArrayD<f32> {
    let rank = w.rank();
    let axes: Vec<AxisWindow> = (0..rank)
        .map(|a| AxisWindow::new(x.shape()[1 + a], w.kernel[a], w.strides[a], w.dilation[a], w.padding).unwrap())
        .collect();
    let c = x.shape()[rank + 1];
    let filters = if depthwise { c * k.shape()[rank + 1] } else { k.shape()[rank + 1] };
    let mut shape = vec![x.shape()[0]];
    shape.extend(axes.iter().map(|a| a.out));
    shape.push(filters);
    let kernel_cells: Vec<Vec<usize>> =
        ndarray::indices(IxDyn(&w.kernel)).into_iter().map(|i| i.slice().to_vec()).collect();
    ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        let (b, o, f) = (ix[0], &ix.slice()[1..=rank], ix[rank + 1]);
        let mut sum = 0.0;
        for cell in &kernel_cells {
            let mut at = vec![b];
            for a in 0..rank {
                match (o[a] * axes[a].stride + cell[a] * axes[a].dilation).checked_sub(axes[a].pad_before) {
                    Some(i) if i < x.shape()[1 + a] => at.push(i),
                    _ => break,
                }
            }
            if at.len() != rank + 1 {
                continue;
            }
            let mut read = |ci: usize, ki: [usize; 2]| {
                let mut xi = at.clone();
                xi.push(ci);
                let mut kix = cell.clone();
                kix.extend(ki);
                sum += x[IxDyn(&xi)] * k[IxDyn(&kix)];
            };
            if depthwise {
                let m = k.shape()[rank + 1];
                read(f / m, [f / m, f % m]);
            } else {
                let per_group = c / groups;
                let group = f / (filters / groups);
                for ci in 0..per_group {
                    read(group * per_group + ci, [ci, f]);
                }
            }
        }
        sum
    })
}

/// (input shape, kernel shape, stride, dilation, padding): one test geometry.
type Case<'a> = (&'a [usize], &'a [usize], usize, usize, Padding);

fn assert_close(actual: &ArrayD<f32>, expected: &ArrayD<f32>, what: &str) {
    assert_eq!(actual.shape(), expected.shape(), "{what}");
    for (a, e) in actual.iter().zip(expected.iter()) {
        assert!((a - e).abs() <= 1e-4, "{what}: {a} vs {e}");
    }
}

#[test]
fn same_stride_2_on_4x4_pads_only_bottom_right() {
    // 4x4 input, 3x3 ones kernel, SAME stride 2: out 2x2, total pad 1 -> 0 top, 1 bottom.
    let x = ArrayD::from_shape_vec(vec![1, 4, 4, 1], (1..=16).map(|v| v as f32).collect()).unwrap();
    let conv = Conv::new(window(&[3, 3], 2, 1, Padding::Same), ConvVariant::Standard { filters: 1, groups: 1 });
    let y = run(conv, vec![ArrayD::ones(vec![3, 3, 1, 1])], None, x);
    assert_eq!(y.into_raw_vec_and_offset().0, vec![54.0, 45.0, 72.0, 54.0]);
}

#[test]
fn standard_matches_direct_definition_in_every_rank() {
    let cases: &[(Case, usize)] = &[
        ((&[2, 9, 11, 3], &[3, 3, 3, 5], 1, 1, Padding::Same), 1),
        ((&[2, 9, 11, 3], &[3, 3, 3, 5], 2, 1, Padding::Same), 1),
        ((&[2, 9, 11, 3], &[3, 2, 3, 4], 2, 1, Padding::Valid), 1),
        ((&[1, 10, 10, 2], &[3, 3, 2, 3], 1, 2, Padding::Same), 1),
        ((&[1, 10, 10, 2], &[3, 3, 2, 3], 1, 3, Padding::Valid), 1),
        ((&[3, 20, 20, 8], &[1, 1, 8, 40], 1, 1, Padding::Valid), 1),
        ((&[1, 7, 7, 6], &[1, 1, 6, 5], 2, 1, Padding::Same), 1),
        ((&[1, 30, 30, 4], &[5, 5, 4, 7], 1, 1, Padding::Same), 1),
        ((&[2, 7, 6, 4], &[3, 3, 2, 6], 2, 1, Padding::Same), 2),
        ((&[2, 17, 3], &[5, 3, 4], 2, 1, Padding::Same), 1),
        ((&[2, 17, 3], &[3, 3, 4], 1, 2, Padding::Causal), 1),
        ((&[1, 6, 5, 7, 2], &[3, 2, 3, 2, 3], 2, 1, Padding::Same), 1),
        ((&[1, 6, 5, 7, 4], &[2, 2, 2, 2, 4], 1, 2, Padding::Valid), 2),
    ];
    for &((xs, ks, s, d, padding), groups) in cases {
        let rank = xs.len() - 2;
        let w = window(&ks[..rank], s, d, padding);
        let (x, k) = (ramp(xs, 0.25), ramp(ks, 0.1));
        let conv = Conv::new(w.clone(), ConvVariant::Standard { filters: ks[rank + 1], groups });
        let y = run(conv, vec![k.clone()], None, x.clone());
        assert_close(&y, &reference(&x, &k, &w, groups, false), &format!("{xs:?} {ks:?} s{s} d{d} {padding:?}"));
    }
}

#[test]
fn depthwise_matches_direct_definition() {
    let cases: &[Case] = &[
        (&[2, 9, 11, 3], &[3, 3, 3, 1], 1, 1, Padding::Same),
        (&[2, 9, 11, 3], &[3, 3, 3, 2], 2, 1, Padding::Same),
        (&[1, 10, 10, 4], &[3, 3, 4, 1], 1, 2, Padding::Same),
        (&[1, 10, 10, 2], &[5, 5, 2, 3], 1, 2, Padding::Valid),
        (&[1, 7, 7, 6], &[7, 7, 6, 1], 1, 1, Padding::Same),
        (&[2, 8, 8, 5], &[3, 3, 5, 1], 2, 1, Padding::Valid),
        (&[2, 12, 3], &[4, 3, 2], 3, 1, Padding::Same),
    ];
    for &(xs, ks, s, d, padding) in cases {
        let rank = xs.len() - 2;
        let w = window(&ks[..rank], s, d, padding);
        let (x, k) = (ramp(xs, 0.25), ramp(ks, 0.1));
        let y = run(
            Conv::new(w.clone(), ConvVariant::Depthwise { depth_multiplier: ks[rank + 1] }),
            vec![k.clone()],
            None,
            x.clone(),
        );
        assert_close(&y, &reference(&x, &k, &w, 1, true), &format!("{xs:?} {ks:?}"));
    }
}

#[test]
fn separable_is_depthwise_then_pointwise() {
    let w = window(&[3, 3], 1, 1, Padding::Same);
    let (x, dk, pk) = (ramp(&[1, 6, 5, 3], 0.2), ramp(&[3, 3, 3, 2], 0.1), ramp(&[1, 1, 6, 4], 0.3));
    let bias = ArrayD::from_shape_vec(vec![4], vec![0.5, -0.5, 1.0, 0.0]).unwrap();
    let mut separable = Conv::new(w.clone(), ConvVariant::Separable { filters: 4, depth_multiplier: 2 });
    separable.activation = "relu".into();
    let y = run(separable, vec![dk.clone(), pk.clone()], Some(bias.clone()), x.clone());
    let mid = reference(&x, &dk, &w, 1, true);
    let expected = reference(&mid, &pk, &window(&[1, 1], 1, 1, Padding::Valid), 1, false);
    let expected = (expected + &bias).mapv(|v| v.max(0.0));
    assert_close(&y, &expected, "separable");
}

#[test]
fn bias_and_activation_apply_and_bad_weights_are_errors() {
    let w = window(&[1, 1], 1, 1, Padding::Valid);
    let mut dw = Conv::new(w.clone(), ConvVariant::Depthwise { depth_multiplier: 1 });
    dw.activation = "relu".into();
    let scale = ArrayD::from_shape_vec(vec![1, 1, 2, 1], vec![0.1f32, -3.0]).unwrap();
    let x = ArrayD::from_shape_vec(vec![1, 1, 2, 2], vec![0.3f32, 1.0, -7.0, 0.2]).unwrap();
    let y = run(dw.clone(), vec![scale.clone()], Some(ArrayD::from_elem(vec![2], 0.5)), x);
    assert_eq!(y.as_slice().unwrap(), &[0.3f32 * 0.1 + 0.5, 0.0, 0.0, 0.0]);
    // Three input channels for a two-channel kernel, a wrong bias, groups that do not divide.
    let layer = dw.clone().layer("dw", "x".into(), vec![scale.clone()], None);
    let spec = LayerSpec::parse(&layer).unwrap();
    assert!(apply(&spec, &layer, vec![Input::Owned(ArrayD::zeros(vec![1, 1, 1, 3]))]).is_err());
    let layer = dw.layer("dw", "x".into(), vec![scale], Some(ArrayD::zeros(vec![3])));
    assert!(apply(&spec, &layer, vec![Input::Owned(ArrayD::zeros(vec![1, 1, 1, 2]))]).is_err());
    let grouped = Conv::new(w, ConvVariant::Standard { filters: 3, groups: 2 });
    let layer = grouped.layer("g", "x".into(), vec![ArrayD::zeros(vec![1, 1, 1, 3])], None);
    let spec = LayerSpec::parse(&layer).unwrap();
    assert!(apply(&spec, &layer, vec![Input::Owned(ArrayD::zeros(vec![1, 1, 1, 2]))]).is_err());
}

/// A transposed convolution is the adjoint of the forward one: <conv(x), y> = <x, convT(y)>
/// for the same kernel array.
#[test]
fn transposed_is_the_adjoint_of_the_forward_convolution() {
    let cases: &[Case] = &[
        (&[1, 7, 6, 3], &[3, 3, 3, 2], 2, 1, Padding::Same),
        (&[2, 8, 8, 2], &[4, 4, 2, 3], 2, 1, Padding::Same),
        (&[1, 9, 7, 2], &[3, 2, 2, 2], 2, 1, Padding::Valid),
        (&[1, 9, 3], &[3, 3, 2], 1, 2, Padding::Same),
        (&[1, 4, 5, 6, 2], &[2, 3, 2, 2, 2], 2, 1, Padding::Same),
    ];
    for &(xs, ks, s, d, padding) in cases {
        let rank = xs.len() - 2;
        let w = window(&ks[..rank], s, d, padding);
        let (x, k) = (ramp(xs, 0.25), ramp(ks, 0.1));
        let y = reference(&x, &k, &w, 1, false);
        let g = ramp(y.shape(), 0.3);
        // Keras's transposed kernel (k…, filters, in) is the forward kernel (k…, in, out) as it is.
        let transposed = Conv::new(w.clone(), ConvVariant::Transposed { filters: xs[rank + 1], output_padding: None });
        // Ask for exactly the forward input's lengths through output_padding where Keras's default differs.
        let default: Vec<usize> = (0..rank).map(|a| transposed.transposed_length(a, y.shape()[1 + a], None)).collect();
        let transposed = if default[..] == xs[1..=rank] {
            transposed
        } else {
            let extra: Vec<usize> = (0..rank)
                .map(|a| xs[1 + a] - transposed.transposed_length(a, y.shape()[1 + a], Some(&vec![0; rank])))
                .collect();
            Conv::new(w.clone(), ConvVariant::Transposed { filters: xs[rank + 1], output_padding: Some(extra) })
        };
        let xt = run(transposed, vec![k.clone()], None, g.clone());
        assert_eq!(xt.shape(), x.shape(), "{xs:?} {ks:?}");
        let forward: f32 = (&y * &g).sum();
        let adjoint: f32 = (&x * &xt).sum();
        assert!((forward - adjoint).abs() <= 1e-3 * forward.abs().max(1.0), "{xs:?} {ks:?}: {forward} vs {adjoint}");
    }
}
