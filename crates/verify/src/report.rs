//! The verification report: what was compared, the errors, the per-stage times; as JSON,
//! Markdown and a terminal summary.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::compare::{Comparison, Tolerance};
use crate::Options;

/// Time spent in one pipeline stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    /// Stage name.
    pub stage: String,
    /// Milliseconds.
    pub ms: f64,
    /// Resident memory when the stage ended, in MiB (where measurable).
    pub rss_mib: Option<f64>,
    /// Peak resident memory during the stage, in MiB, for stages begun with [`StageTime::start`].
    pub peak_rss_mib: Option<f64>,
}

impl StageTime {
    /// Marks the start of a stage: restarts the peak-memory measurement.
    pub fn start() -> Instant {
        crate::memory::reset_peak();
        Instant::now()
    }

    /// A stage that took `elapsed`, ending now.
    pub fn new(stage: &str, elapsed: Duration) -> Self {
        StageTime {
            stage: stage.into(),
            ms: elapsed.as_secs_f64() * 1e3,
            rss_mib: crate::memory::resident_mib(),
            peak_rss_mib: crate::memory::peak_resident_mib(),
        }
    }

    /// A total over several tasks (e.g. one engine's time summed over samples): no memory figures.
    pub fn sum(stage: &str, elapsed: Duration) -> Self {
        StageTime { stage: stage.into(), ms: elapsed.as_secs_f64() * 1e3, rss_mib: None, peak_rss_mib: None }
    }
}

/// Comparison of one model output over all samples.
#[derive(Debug, Clone, Serialize)]
pub struct OutputReport {
    /// Keras output layer.
    pub layer: String,
    /// TF node it reproduces.
    pub tf_node: String,
    /// Errors.
    pub comparison: Comparison,
}

/// Comparison of one layer's output with its TF node (per-layer localisation).
#[derive(Debug, Clone, Serialize)]
pub struct Divergence {
    /// Keras layer.
    pub layer: String,
    /// The TF node whose output the layer reproduces.
    pub tf_node: String,
    /// Errors on the first sample.
    pub comparison: Comparison,
}

/// One set of input shapes the model was verified at, and the errors there.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenRun {
    /// Per model input: TF node and the shape of one sample (batch 1).
    pub shapes: Vec<(String, Vec<usize>)>,
    /// Samples compared at these shapes.
    pub samples: usize,
    /// Errors over every output at these shapes.
    pub comparison: Comparison,
}

/// The source format of a translated model and the `.h5` model's layout.
#[derive(Debug, Clone, Serialize)]
pub struct TranslatedFrom {
    /// `ONNX`.
    pub format: String,
    /// Which layout the `.h5` model's 4-D inputs and outputs use.
    pub layout: String,
    /// Each output's source axes in the `.h5` model's order (the source's output is the `.h5`
    /// output transposed back by the inverse permutation); empty when nothing is reordered.
    pub output_axes: Vec<(String, Vec<usize>)>,
}

/// Everything a verification run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Model name.
    pub model: String,
    /// Source file.
    pub source: String,
    /// For a model translated from another format (ONNX): the format, and the layout the
    /// `.h5` model's inputs and outputs use.
    pub translated_from: Option<TranslatedFrom>,
    /// All outputs within tolerance.
    pub passed: bool,
    /// Samples compared.
    pub samples: usize,
    /// Seed of the random inputs (`null` when the user gave inputs).
    pub seed: Option<u64>,
    /// Tolerances used.
    pub tolerance: Tolerance,
    /// Size of the source model: TF or ONNX nodes, or Keras layers for a `.h5` source.
    pub source_nodes: usize,
    /// What `source_nodes` counts (`TF nodes`, `ONNX nodes`, `Keras layers`).
    pub source_unit: String,
    /// Keras layers emitted.
    pub layers: usize,
    /// Weight values.
    pub parameters: usize,
    /// Size of the `.h5` file.
    pub h5_bytes: usize,
    /// Model inputs: TF node and shape.
    pub inputs: Vec<(String, Vec<Option<usize>>)>,
    /// Per-output comparison (over every run).
    pub outputs: Vec<OutputReport>,
    /// Every set of input shapes verified (one for static inputs, two or more per unknown
    /// dimension), with its errors.
    pub runs: Vec<ProvenRun>,
    /// The inputs' unknown non-batch dimensions: kept unknown in the `.h5`, or fixed (why).
    pub dimensions: Vec<crate::DynamicDim>,
    /// First layer above tolerance in the per-layer comparison, if any.
    pub first_divergence: Option<Divergence>,
    /// Per-layer comparison (on a mismatch or when asked), or why it could not run.
    pub layer_comparison: Option<Result<Vec<Divergence>, String>>,
    /// Time per stage.
    pub stages: Vec<StageTime>,
    /// Peak resident memory of the process, in MiB, where the caller measured it.
    pub peak_rss_mib: Option<f64>,
    /// For a Keras `.h5` source: what the upgrade changed, one line per change.
    pub rewrites: Vec<String>,
    /// Set when the source computes in a half-precision type (Keras mixed precision): the
    /// `.h5` computes in float32, and the tolerance is widened to at least
    /// [`Tolerance::HALF_PRECISION`].
    pub source_precision: Option<String>,
}

/// What the report says about the source graph, taken before verification consumes it.
pub(crate) struct SourceSummary {
    source_nodes: usize,
    source_unit: String,
    translated_from: Option<TranslatedFrom>,
    source_precision: Option<String>,
}

impl SourceSummary {
    /// A Keras `.h5` source of `layers` layers, written by Keras `version`.
    pub(crate) fn keras_h5(layers: usize, version: Option<&str>) -> Self {
        SourceSummary {
            source_nodes: layers,
            source_unit: "Keras layers".into(),
            translated_from: Some(TranslatedFrom {
                format: format!("Keras .h5 (keras_version {})", version.unwrap_or("unknown")),
                layout: "unchanged".into(),
                output_axes: Vec::new(),
            }),
            source_precision: None,
        }
    }

    pub(crate) fn of(graph: &tf2h5_tf::TfGraph) -> Self {
        let (source_nodes, source_unit) = match &graph.translation {
            Some(t) => (t.source_nodes, format!("{} nodes", t.format)),
            None => (graph.nodes().len(), "TF nodes".into()),
        };
        SourceSummary {
            source_nodes,
            source_unit,
            translated_from: graph.translation.as_ref().map(|t| TranslatedFrom {
                format: t.format.clone(),
                layout: t.layout.clone(),
                output_axes: t.output_axes.clone(),
            }),
            source_precision: crate::oracle::half::computes_in_half(&graph.graph).then(|| "float16".to_string()),
        }
    }
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        path: &Path,
        source: SourceSummary,
        conversion: &tf2h5_convert::Conversion,
        options: &Options,
        samples: usize,
        outputs: Vec<OutputReport>,
        stages: Vec<StageTime>,
        h5_bytes: usize,
        layer_comparison: Option<Result<Vec<Divergence>, String>>,
    ) -> Self {
        let first_divergence = match &layer_comparison {
            Some(Ok(layers)) => layers.iter().find(|d| !d.comparison.passed()).cloned(),
            _ => None,
        };
        Report {
            model: conversion.model.name.clone(),
            source: path.display().to_string(),
            translated_from: source.translated_from,
            passed: outputs.iter().all(|o| o.comparison.passed()),
            samples,
            seed: options.inputs.is_empty().then_some(options.seed),
            tolerance: options.tolerance,
            source_nodes: source.source_nodes,
            source_unit: source.source_unit,
            layers: conversion.model.layers.len(),
            parameters: conversion.model.parameter_count(),
            h5_bytes,
            inputs: conversion.inputs.iter().map(|i| (i.tf_node.clone(), i.shape.clone())).collect(),
            outputs,
            runs: Vec::new(),
            dimensions: Vec::new(),
            first_divergence,
            layer_comparison,
            // Each stage restarted the kernel's peak counter: the process peak is the largest.
            peak_rss_mib: stages.iter().filter_map(|s| s.peak_rss_mib).reduce(f64::max),
            stages,
            rewrites: Vec::new(),
            source_precision: source.source_precision,
        }
    }

    /// What a half-precision source means for the comparison, in one sentence.
    fn precision_note(&self) -> Option<String> {
        self.source_precision.as_ref().map(|precision| {
            format!(
                "the source computes in {precision} (mixed precision); the .h5 computes in float32 with the \
                 same weights, so outputs are compared at atol {:e}, rtol {:e} at least",
                Tolerance::HALF_PRECISION.atol,
                Tolerance::HALF_PRECISION.rtol
            )
        })
    }

    /// Total time of all stages, in milliseconds (the wall-clock run stage counts once).
    pub fn total_ms(&self) -> f64 {
        self.stages.iter().filter(|s| !s.stage.ends_with("(sum)")).map(|s| s.ms).sum()
    }

    /// What became of unknown input dimensions and the shapes verified, one line each
    /// (nothing for a model verified at one static shape).
    pub fn size_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for dim in &self.dimensions {
            let sizes: Vec<String> = dim.sizes.iter().map(usize::to_string).collect();
            lines.push(match &dim.fixed {
                None => format!(
                    "input '{}' axis {}: unknown in the .h5, proven at {}",
                    dim.input,
                    dim.axis,
                    sizes.join(", ")
                ),
                Some(why) => {
                    format!("input '{}' axis {}: fixed at {} in the .h5 ({why})", dim.input, dim.axis, sizes.join(", "))
                }
            });
        }
        if !self.dimensions.is_empty() || self.runs.len() > 1 {
            for run in &self.runs {
                let shapes: Vec<String> = run
                    .shapes
                    .iter()
                    .map(|(name, shape)| {
                        format!("{name} ({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", "))
                    })
                    .collect();
                let verdict = if run.comparison.passed() { "verified" } else { "MISMATCH" };
                lines.push(format!(
                    "{verdict} at {}: {} samples, max abs err {:.3e}",
                    shapes.join(", "),
                    run.samples,
                    run.comparison.max_abs_err
                ));
            }
        }
        lines
    }

    /// The terminal summary: per-output errors and per-stage times.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed { "PASS" } else { "MISMATCH" };
        let _ = writeln!(
            out,
            "{verdict}  {}  ({} {} -> {} Keras layers, {} parameters, {} samples, atol {:e}, rtol {:e})",
            self.model,
            self.source_nodes,
            self.source_unit,
            self.layers,
            self.parameters,
            self.samples,
            self.tolerance.atol,
            self.tolerance.rtol
        );
        if let Some(t) = &self.translated_from {
            let _ = writeln!(out, "  {} model; .h5 layout: {}", t.format, t.layout);
        }
        for rewrite in &self.rewrites {
            let _ = writeln!(out, "  upgraded: {rewrite}");
        }
        if let Some(note) = self.precision_note() {
            let _ = writeln!(out, "  {note}");
        }
        let _ = writeln!(
            out,
            "  {:<28} {:<28} {:>12} {:>12} {:>10}",
            "output layer", "TF node", "max abs err", "max rel err", "failures"
        );
        for o in &self.outputs {
            let c = &o.comparison;
            let _ = writeln!(
                out,
                "  {:<28} {:<28} {:>12.3e} {:>12.3e} {:>10}{}",
                o.layer,
                o.tf_node,
                c.max_abs_err,
                c.max_rel_err,
                c.failures,
                c.problem.as_deref().map(|p| format!("  ({p})")).unwrap_or_default()
            );
        }
        for line in self.size_lines() {
            let _ = writeln!(out, "  {line}");
        }
        if let Some(d) = &self.first_divergence {
            let _ = writeln!(
                out,
                "  first diverging layer: '{}' (TF node '{}'), max abs err {:.3e}",
                d.layer, d.tf_node, d.comparison.max_abs_err
            );
        }
        if let Some(Err(why)) = &self.layer_comparison {
            let _ = writeln!(out, "  per-layer comparison unavailable: {why}");
        }
        let stages: Vec<String> = self.stages.iter().map(|s| format!("{} {:.1} ms", s.stage, s.ms)).collect();
        let _ = writeln!(out, "  time: {} (total {:.1} ms)", stages.join(", "), self.total_ms());
        if let Some(rss) = self.peak_rss_mib {
            let _ = writeln!(out, "  peak memory: {rss:.1} MiB");
        }
        let resident: Vec<String> = self
            .stages
            .iter()
            .filter_map(|s| Some(format!("{} {:.0}/{:.0}", s.stage, s.peak_rss_mib?, s.rss_mib?)))
            .collect();
        if !resident.is_empty() {
            let _ = writeln!(out, "  memory per stage, peak/after (MiB): {}", resident.join(", "));
        }
        out
    }

    /// The Markdown report.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let verdict = if self.passed { "verified" } else { "**MISMATCH**" };
        let _ = writeln!(md, "# tf2h5 verify: {}\n", self.model);
        let _ = writeln!(md, "- source: `{}`\n- result: {verdict}", self.source);
        let _ = writeln!(
            md,
            "- {} {} → {} Keras layers, {} parameters, .h5 {} bytes",
            self.source_nodes, self.source_unit, self.layers, self.parameters, self.h5_bytes
        );
        let seed = self.seed.map(|s| format!("random N(0,1), seed {s}")).unwrap_or_else(|| "user inputs".into());
        let _ = writeln!(
            md,
            "- {} samples ({seed}); tolerance atol {:e}, rtol {:e}",
            self.samples, self.tolerance.atol, self.tolerance.rtol
        );
        if let Some(t) = &self.translated_from {
            let _ = writeln!(md, "- translated from {}; .h5 layout: {}", t.format, t.layout);
        }
        if let Some(note) = self.precision_note() {
            let _ = writeln!(md, "- {note}");
        }
        if !self.rewrites.is_empty() {
            let _ = writeln!(md, "- upgraded:");
            for rewrite in &self.rewrites {
                let _ = writeln!(md, "  - {rewrite}");
            }
        }
        for (node, shape) in &self.inputs {
            let _ = writeln!(md, "- input `{node}`: {}", format_shape(shape));
        }
        if !self.dimensions.is_empty() || self.runs.len() > 1 {
            let _ = writeln!(md, "\n## Input sizes\n");
            for line in self.size_lines() {
                let _ = writeln!(md, "- {line}");
            }
        }
        let _ = writeln!(md, "\n## Outputs\n\n| output layer | TF node | max abs err | max rel err | max abs value | failures / elements |\n|---|---|---|---|---|---|");
        for o in &self.outputs {
            let c = &o.comparison;
            let _ = writeln!(
                md,
                "| {} | {} | {:.3e} | {:.3e} | {:.3e} | {} / {}{} |",
                o.layer,
                o.tf_node,
                c.max_abs_err,
                c.max_rel_err,
                c.max_abs_expected,
                c.failures,
                c.elements,
                c.problem.as_deref().map(|p| format!(" ({p})")).unwrap_or_default()
            );
        }
        match &self.layer_comparison {
            Some(Ok(layers)) => {
                let _ = writeln!(md, "\n## Per-layer comparison (first sample)\n");
                if let Some(d) = &self.first_divergence {
                    let _ = writeln!(md, "First diverging layer: **{}** (TF node `{}`).\n", d.layer, d.tf_node);
                }
                let _ = writeln!(md, "![per-layer error]({}.layers.svg)\n", self.model);
                let _ = writeln!(md, "| layer | TF node | max abs err | ok |\n|---|---|---|---|");
                for d in layers {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {:.3e} | {} |",
                        d.layer,
                        d.tf_node,
                        d.comparison.max_abs_err,
                        if d.comparison.passed() { "yes" } else { "**no**" }
                    );
                }
            }
            Some(Err(why)) => {
                let _ = writeln!(md, "\nPer-layer comparison unavailable: {why}");
            }
            None => {}
        }
        let _ = writeln!(md, "\n## Time per stage\n\n| stage | ms |\n|---|---|");
        for s in &self.stages {
            let _ = writeln!(md, "| {} | {:.1} |", s.stage, s.ms);
        }
        md
    }
}

impl Report {
    /// A per-layer error plot (SVG): one bar per layer, log scale of the max abs error, the
    /// absolute tolerance as a line, failing layers in red. `None` without a layer comparison.
    pub fn layer_plot_svg(&self) -> Option<String> {
        let Some(Ok(layers)) = &self.layer_comparison else { return None };
        let (bar, left, top, height) = (12.0, 70.0, 30.0, 240.0);
        let width = left + bar * layers.len().max(1) as f64 + 20.0;
        let (low, high) = (-9.0f64, 1.0f64); // log10 range shown
        let y = |err: f64| {
            let level = if err > 0.0 { err.log10().clamp(low, high) } else { low };
            top + height * (high - level) / (high - low)
        };
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
             <text x=\"{left}\" y=\"18\">{}: max abs error per layer vs TF node (log scale)</text>\n",
            top + height + 40.0,
            xml_escape(&self.model)
        );
        for exponent in (low as i32..=high as i32).step_by(2) {
            let ty = y(10f64.powi(exponent));
            let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\" stroke=\"#ddd\"/><text x=\"5\" y=\"{:.1}\">1e{exponent}</text>", width - 20.0, ty + 4.0);
        }
        for (i, layer) in layers.iter().enumerate() {
            let x = left + bar * i as f64;
            let bar_top = y(layer.comparison.max_abs_err as f64);
            let color = if layer.comparison.passed() { "#4a7" } else { "#d33" };
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{bar_top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} ({}): {:.3e}</title></rect>",
                bar - 2.0,
                (top + height - bar_top).max(0.5),
                xml_escape(&layer.layer),
                xml_escape(&layer.tf_node),
                layer.comparison.max_abs_err
            );
        }
        let atol_y = y(self.tolerance.atol as f64);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{atol_y:.1}\" x2=\"{:.1}\" y2=\"{atol_y:.1}\" stroke=\"#d33\" stroke-dasharray=\"4 3\"/>\n\
             <text x=\"{left}\" y=\"{:.1}\">layers in model order ({}); dashed: atol {:e}</text>\n</svg>",
            width - 20.0,
            top + height + 25.0,
            layers.len(),
            self.tolerance.atol
        );
        Some(svg)
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn format_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
    format!("({})", dims.join(", "))
}
