//! `tf2h5-bench`: measures tf2h5 honestly, never asserted in tests.
//!
//! For each benchmark model (a zoo folder in the `test-models/` layout) it measures:
//! - the reference engine against tract on the same inputs, batch 1 and 8: min/median time
//!   and GFLOP/s, with the engine on all cores and on one;
//! - every stage of `verify` in-process (load, convert, h5 write/read, tract prepare, runs,
//!   compare), min/median over several runs;
//! - the `tf2h5 verify` command end to end (wall time, peak RSS) next to Python TensorFlow
//!   importing, loading the same model and predicting the same number of samples;
//! - scaling of verify time and peak RSS with model size and with sample count.
//!
//! Results go to `bench.json` and `bench.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use ndarray::{ArrayD, Dimension, IxDyn};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Benchmark tf2h5 (engine vs tract, verify stages, TF baseline, scaling)")]
struct Args {
    /// Zoo folder with model folders (meta.json layout).
    #[arg(long, default_value = "zoo")]
    zoo: PathBuf,
    /// Models for the engine-vs-tract and stage benchmarks.
    #[arg(long, value_delimiter = ',', default_value = "InceptionV3-SavedModel,ResNet50,MobileNetV2")]
    models: Vec<String>,
    /// Models for the size-scaling table (small to large).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "MobileNetV3Small,MobileNetV2,EfficientNetB0,DenseNet121,InceptionV3,ResNet50,VGG16"
    )]
    scaling_models: Vec<String>,
    /// Sample counts for the sample-scaling table.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    sample_counts: Vec<usize>,
    /// Repetitions per measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The tf2h5 binary.
    #[arg(long, default_value = "target/release/tf2h5")]
    tf2h5: PathBuf,
    /// Python with TensorFlow, for the baseline (skipped if absent).
    #[arg(long)]
    python: Option<PathBuf>,
    /// The TensorFlow baseline script.
    #[arg(long, default_value = "scripts/tf_baseline.py")]
    tf_baseline: PathBuf,
    /// Where bench.json and bench.md go.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
struct Timing {
    min_ms: f64,
    median_ms: f64,
    runs: usize,
}

impl Timing {
    fn of(mut samples: Vec<Duration>) -> Timing {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        Timing { min_ms: ms(samples[0]), median_ms: ms(samples[samples.len() / 2]), runs: samples.len() }
    }
}

fn time_runs<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<Timing> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed());
    }
    Ok(Timing::of(samples))
}

struct ZooModel {
    name: String,
    path: PathBuf,
}

fn zoo_model(zoo: &Path, name: &str) -> Result<ZooModel> {
    let dir = zoo.join(name);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("meta.json"))
            .with_context(|| format!("{}: no meta.json (generate the zoo: just zoo)", dir.display()))?,
    )?;
    let model = meta["model"].as_str().context("meta.json has no model")?;
    Ok(ZooModel { name: name.to_string(), path: dir.join(model) })
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let mut engines = Vec::new();
    let mut stages = Vec::new();
    let mut end_to_end = Vec::new();
    for name in &args.models {
        let model = zoo_model(&args.zoo, name)?;
        eprintln!("bench: {name}: engine vs tract");
        engines.extend(engine_vs_tract(&model, args.runs)?);
        eprintln!("bench: {name}: verify stages");
        stages.push(verify_stages(&model, args.runs)?);
        eprintln!("bench: {name}: tf2h5 verify vs TensorFlow");
        // verify runs its 8 samples as one batch: the activations of that batch (every layer's
        // output, an upper bound on what is live at once) are the "one batch".
        let batch = tf2h5_verify::inputs::MAX_BATCH;
        let activations =
            engines.iter().find(|r| r.model == *name && r.batch == batch).map(|r| r.activation_mib).unwrap_or(0.0);
        end_to_end.push(verify_vs_tensorflow(&model, &args, 8, activations)?);
    }
    let mut size_scaling = Vec::new();
    for name in &args.scaling_models {
        let Ok(model) = zoo_model(&args.zoo, name) else { continue };
        eprintln!("bench: scaling: {name}");
        size_scaling.push(cli_verify(&model, &args.tf2h5, 8, args.runs.min(3))?);
    }
    let mut sample_scaling = Vec::new();
    if let Some(name) = args.models.first() {
        let model = zoo_model(&args.zoo, name)?;
        for &samples in &args.sample_counts {
            eprintln!("bench: scaling: {name} with {samples} samples");
            sample_scaling.push(cli_verify(&model, &args.tf2h5, samples, args.runs.min(3))?);
        }
    }
    let machine = machine_description();
    let report = json!({
        "machine": machine,
        "engine_vs_tract": engines,
        "verify_stages": stages,
        "verify_vs_tensorflow": end_to_end,
        "size_scaling": size_scaling,
        "sample_scaling": sample_scaling,
    });
    std::fs::write(args.out.join("bench.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(args.out.join("bench.md"), markdown(&report))?;
    eprintln!("bench: wrote {}", args.out.join("bench.md").display());
    Ok(())
}

#[derive(Debug, Serialize)]
struct EngineRow {
    model: String,
    batch: usize,
    gflop: f64,
    /// Every layer's output for this batch.
    activation_mib: f64,
    tract: Timing,
    engine: Timing,
    engine_one_thread: Timing,
    tract_gflops: f64,
    engine_gflops: f64,
    engine_over_tract: f64,
}

fn engine_vs_tract(model: &ZooModel, runs: usize) -> Result<Vec<EngineRow>> {
    let graph = tf2h5_tf::load(&model.path)?;
    let conversion = tf2h5_convert::convert(&graph, &Default::default())?;
    let keras = tf2h5_keras::h5::read_from_bytes(&tf2h5_keras::h5::write_to_bytes(&conversion.model)?)?;
    let outputs: Vec<String> = conversion.outputs.iter().map(|o| o.tf_node.clone()).collect();
    let pruned = graph.pruned(&outputs)?;
    let single_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let mut rows = Vec::new();
    for batch in [1usize, tf2h5_verify::inputs::MAX_BATCH] {
        let inputs: Vec<ArrayD<f32>> = conversion
            .inputs
            .iter()
            .map(|e| {
                let shape: Vec<usize> = e.shape.iter().map(|d| d.unwrap_or(batch)).collect();
                ArrayD::from_shape_fn(IxDyn(&shape), |ix| ((ix.as_array_view().sum() % 17) as f32 - 8.0) / 8.0)
            })
            .collect();
        let shapes: Vec<(String, Vec<usize>)> =
            conversion.inputs.iter().zip(&inputs).map(|(e, a)| (e.tf_node.clone(), a.shape().to_vec())).collect();
        let oracle = tf2h5_verify::oracle::Oracle::new(&pruned, &shapes, &outputs)?;
        let (gflop, activation_mib) = workload(&keras, &inputs)?;
        // Warm up both once (allocations, caches).
        oracle.run(&inputs)?;
        tf2h5_engine::run(&keras, &inputs)?;
        let tract = time_runs(runs, || oracle.run(&inputs).map_err(anyhow::Error::from))?;
        let engine = time_runs(runs, || tf2h5_engine::run(&keras, &inputs).map_err(anyhow::Error::from))?;
        let engine_one_thread = single_thread
            .install(|| time_runs(runs, || tf2h5_engine::run(&keras, &inputs).map_err(anyhow::Error::from)))?;
        rows.push(EngineRow {
            model: model.name.clone(),
            batch,
            gflop,
            activation_mib,
            tract_gflops: gflop / (tract.min_ms / 1e3),
            engine_gflops: gflop / (engine.min_ms / 1e3),
            engine_over_tract: tract.min_ms / engine.min_ms,
            tract,
            engine,
            engine_one_thread,
        });
    }
    Ok(rows)
}

/// What one run of `model` on `inputs` computes: GFLOP (multiply-adds ×2 of the convolution
/// and dense layers, the bulk of the work) and MiB of activations (every layer's output).
fn workload(model: &tf2h5_keras::KerasModel, inputs: &[ArrayD<f32>]) -> Result<(f64, f64)> {
    let outputs = tf2h5_engine::run_all_layers(model, inputs)?;
    let mut flops = 0.0;
    let mut activation_bytes = 0.0;
    for layer in &model.layers {
        let Some(out) = outputs.get(&layer.name) else { continue };
        activation_bytes += 4.0 * out.len() as f64;
        let kernel = layer.weights.first().map(|w| w.value.shape().to_vec()).unwrap_or_default();
        let per_output = match (layer.class_name.as_str(), kernel.as_slice()) {
            ("Conv2D", [kh, kw, cin, _]) => kh * kw * cin,
            ("DepthwiseConv2D", [kh, kw, _, _]) => kh * kw,
            ("Dense", [input, _]) => *input,
            _ => 0,
        };
        flops += 2.0 * per_output as f64 * out.len() as f64;
    }
    Ok((flops / 1e9, activation_bytes / (1 << 20) as f64))
}

#[derive(Debug, Serialize)]
struct StageRow {
    model: String,
    layers: usize,
    parameters: usize,
    stages: Vec<(String, Timing)>,
    /// Largest peak resident memory of each stage over the runs, MiB.
    stage_peak_mib: Vec<(String, f64)>,
}

fn verify_stages(model: &ZooModel, runs: usize) -> Result<StageRow> {
    let mut per_stage: Vec<(String, Vec<Duration>)> = Vec::new();
    let mut peaks: Vec<(String, f64)> = Vec::new();
    let mut shape = (0, 0);
    for _ in 0..runs.max(1) {
        let outcome = tf2h5_verify::verify(&model.path, &Default::default())?;
        if !outcome.report.passed {
            bail!("{}: verification failed; benchmark a passing model", model.name);
        }
        shape = (outcome.report.layers, outcome.report.parameters);
        for stage in &outcome.report.stages {
            if let Some(peak) = stage.peak_rss_mib {
                match peaks.iter_mut().find(|(name, _)| *name == stage.stage) {
                    Some((_, largest)) => *largest = f64::max(*largest, peak),
                    None => peaks.push((stage.stage.clone(), peak)),
                }
            }
            let duration = Duration::from_secs_f64(stage.ms / 1e3);
            match per_stage.iter_mut().find(|(name, _)| *name == stage.stage) {
                Some((_, samples)) => samples.push(duration),
                None => per_stage.push((stage.stage.clone(), vec![duration])),
            }
        }
    }
    Ok(StageRow {
        model: model.name.clone(),
        layers: shape.0,
        parameters: shape.1,
        stages: per_stage.into_iter().map(|(name, samples)| (name, Timing::of(samples))).collect(),
        stage_peak_mib: peaks,
    })
}

#[derive(Debug, Serialize)]
struct CliRow {
    model: String,
    samples: usize,
    parameters: u64,
    weight_mib: f64,
    wall: Timing,
    peak_rss_mib: f64,
    rss_over_weights: f64,
}

fn cli_verify(model: &ZooModel, tf2h5: &Path, samples: usize, runs: usize) -> Result<CliRow> {
    let dir = std::env::temp_dir().join(format!("tf2h5-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{}.h5", model.name));
    let mut report = Value::Null;
    let wall = time_runs(runs, || {
        let output = Command::new(tf2h5)
            .arg("verify")
            .arg(&model.path)
            .arg("-o")
            .arg(&out)
            .args(["--force", "--json", "--samples", &samples.to_string(), "--report-dir"])
            .arg(&dir)
            .output()
            .with_context(|| format!("running {}", tf2h5.display()))?;
        if !output.status.success() {
            bail!("{}: tf2h5 verify failed: {}", model.name, String::from_utf8_lossy(&output.stderr));
        }
        report = serde_json::from_slice(&output.stdout)?;
        Ok(())
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    let parameters = report["parameters"].as_u64().unwrap_or(0);
    let weight_mib = parameters as f64 * 4.0 / (1 << 20) as f64;
    let peak_rss_mib = report["peak_rss_mib"].as_f64().unwrap_or(0.0);
    Ok(CliRow {
        model: model.name.clone(),
        samples,
        parameters,
        weight_mib,
        wall,
        peak_rss_mib,
        rss_over_weights: peak_rss_mib / weight_mib.max(1e-9),
    })
}

#[derive(Debug, Serialize)]
struct EndToEndRow {
    tf2h5: CliRow,
    /// Activations of one verify batch (every layer's output), MiB.
    activation_mib: f64,
    /// The memory target: 2.5 × weights + activations, MiB.
    rss_budget_mib: f64,
    peak_over_budget: f64,
    tensorflow: Option<Timing>,
    tensorflow_note: String,
    tf2h5_over_tensorflow: Option<f64>,
}

fn verify_vs_tensorflow(model: &ZooModel, args: &Args, samples: usize, activation_mib: f64) -> Result<EndToEndRow> {
    let tf2h5 = cli_verify(model, &args.tf2h5, samples, args.runs.min(3))?;
    let rss_budget_mib = 2.5 * tf2h5.weight_mib + activation_mib;
    let peak_over_budget = tf2h5.peak_rss_mib / rss_budget_mib.max(1e-9);
    let Some(python) = &args.python else {
        return Ok(EndToEndRow {
            tf2h5,
            activation_mib,
            rss_budget_mib,
            peak_over_budget,
            tensorflow: None,
            tensorflow_note: "no --python".into(),
            tf2h5_over_tensorflow: None,
        });
    };
    let tensorflow = time_runs(args.runs.min(3), || {
        let status = Command::new(python)
            .arg(&args.tf_baseline)
            .arg(&model.path)
            .args(["--samples", &samples.to_string()])
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("TensorFlow baseline failed on {}", model.name);
        }
        Ok(())
    })?;
    let ratio = tensorflow.median_ms / tf2h5.wall.median_ms;
    Ok(EndToEndRow {
        tf2h5,
        activation_mib,
        rss_budget_mib,
        peak_over_budget,
        tensorflow: Some(tensorflow),
        tensorflow_note: "python process: import tensorflow, load the model, predict the samples".into(),
        tf2h5_over_tensorflow: Some(ratio),
    })
}

fn machine_description() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo.lines().find(|l| l.starts_with("MemTotal")).unwrap_or("?").to_string();
    json!({
        "cpu": cpu,
        "logical_cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory": memory,
        "rayon_threads": rayon::current_num_threads(),
    })
}

fn markdown(report: &Value) -> String {
    let mut md = String::new();
    let m = &report["machine"];
    let _ = writeln!(md, "# tf2h5 benchmarks\n\nMachine: {} ({} logical CPUs, {}). Produced by `just bench`; times are min / median of repeated runs.\n", m["cpu"].as_str().unwrap_or("?"), m["logical_cpus"], m["memory"].as_str().unwrap_or("?"));
    let _ = writeln!(md, "## Reference engine vs tract (same model, same inputs)\n\n| model | batch | GFLOP | tract ms (min/med) | engine ms (min/med) | engine 1 thread ms | tract GFLOP/s | engine GFLOP/s | engine speed / tract |\n|---|---|---|---|---|---|---|---|---|");
    for r in report["engine_vs_tract"].as_array().into_iter().flatten() {
        let t = |k: &str| {
            format!("{:.1} / {:.1}", r[k]["min_ms"].as_f64().unwrap_or(0.0), r[k]["median_ms"].as_f64().unwrap_or(0.0))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {} | {} | {} | {:.1} | {:.1} | **{:.2}×** |",
            r["model"].as_str().unwrap_or(""),
            r["batch"],
            r["gflop"].as_f64().unwrap_or(0.0),
            t("tract"),
            t("engine"),
            t("engine_one_thread"),
            r["tract_gflops"].as_f64().unwrap_or(0.0),
            r["engine_gflops"].as_f64().unwrap_or(0.0),
            r["engine_over_tract"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(md, "\n## Verify stages (in-process, 8 samples, ms min / median)\n");
    for r in report["verify_stages"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "**{}** ({} layers, {} parameters)\n\n| stage | min ms | median ms | peak RSS MiB |\n|---|---|---|---|",
            r["model"].as_str().unwrap_or(""),
            r["layers"],
            r["parameters"]
        );
        let peaks = r["stage_peak_mib"].as_array().cloned().unwrap_or_default();
        for s in r["stages"].as_array().into_iter().flatten() {
            let peak = peaks
                .iter()
                .find(|p| p[0] == s[0])
                .and_then(|p| p[1].as_f64())
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.1} | {peak} |",
                s[0].as_str().unwrap_or(""),
                s[1]["min_ms"].as_f64().unwrap_or(0.0),
                s[1]["median_ms"].as_f64().unwrap_or(0.0)
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "## `tf2h5 verify` vs Python TensorFlow (import + load + predict the same samples)\n\n| model | samples | tf2h5 verify s (min/med) | TensorFlow s (min/med) | TF time / tf2h5 time | peak RSS MiB | weights MiB | RSS / weights | activations of the batch MiB | budget MiB (2.5 × weights + activations) | peak / budget |\n|---|---|---|---|---|---|---|---|---|---|---|");
    for r in report["verify_vs_tensorflow"].as_array().into_iter().flatten() {
        let c = &r["tf2h5"];
        let number = |v: &Value| v.as_f64().unwrap_or(0.0);
        let tf = r["tensorflow"]
            .as_object()
            .map(|t| format!("{:.2} / {:.2}", number(&t["min_ms"]) / 1e3, number(&t["median_ms"]) / 1e3))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} / {:.2} | {} | {} | {:.0} | {:.1} | {:.2} | {:.0} | {:.0} | **{:.2}** |",
            c["model"].as_str().unwrap_or(""),
            c["samples"],
            number(&c["wall"]["min_ms"]) / 1e3,
            number(&c["wall"]["median_ms"]) / 1e3,
            tf,
            r["tf2h5_over_tensorflow"].as_f64().map(|v| format!("**{v:.2}×**")).unwrap_or_else(|| "-".into()),
            number(&c["peak_rss_mib"]),
            number(&c["weight_mib"]),
            number(&c["rss_over_weights"]),
            number(&r["activation_mib"]),
            number(&r["rss_budget_mib"]),
            number(&r["peak_over_budget"]),
        );
    }
    for (title, key) in
        [("Scaling with model size (8 samples)", "size_scaling"), ("Scaling with sample count", "sample_scaling")]
    {
        let _ = writeln!(md, "\n## {title}\n\n| model | samples | parameters | weights MiB | verify s (median) | peak RSS MiB | RSS / weights |\n|---|---|---|---|---|---|---|");
        for c in report[key].as_array().into_iter().flatten() {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.1} | {:.2} | {:.0} | {:.2} |",
                c["model"].as_str().unwrap_or(""),
                c["samples"],
                c["parameters"],
                c["weight_mib"].as_f64().unwrap_or(0.0),
                c["wall"]["median_ms"].as_f64().unwrap_or(0.0) / 1e3,
                c["peak_rss_mib"].as_f64().unwrap_or(0.0),
                c["rss_over_weights"].as_f64().unwrap_or(0.0)
            );
        }
    }
    md
}
