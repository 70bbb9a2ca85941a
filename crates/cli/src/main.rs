//! `tf2h5`: convert TensorFlow (and ONNX) models to Keras `.h5` files that are proven to
//! compute what the source graph computes.
//!
//! Subcommands: `verify` (alias `convert`: tf2h5 never writes an unverified file; alias
//! `upgrade` for a Keras `.h5` source), `inspect`, `ops`, and `zoo` / `zoo-merge` (the
//! regression suite over a folder of models). Exit codes: 0 verified and written, 1 numeric mismatch (nothing written),
//! 2 unreadable or unsupported input, or any other error (nothing written).

mod atomic;
mod html;
mod inspect;
mod isolate;
mod npy;
mod zoo;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

/// Convert TensorFlow models to Keras .h5 files, verified against the source graph.
#[derive(Parser, Debug)]
#[command(name = "tf2h5", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Convert MODEL, verify the .h5 against the source graph, and write it only if it matches.
    /// A Keras .h5 source is upgraded into one file tf-keras 2, Keras 3 and tensorflowjs all load
    /// (alias `upgrade`), verified against the original model.
    #[command(visible_aliases = ["convert", "upgrade"])]
    Verify(VerifyArgs),
    /// Describe a model: inputs, outputs, op histogram and the Keras layers it would become
    /// (or, for an .h5 file, its layers and weights).
    Inspect {
        /// A frozen GraphDef .pb, a SavedModel directory, an ONNX .onnx file, or a Keras .h5 file.
        model: PathBuf,
        /// SavedModel signature to describe (default serving_default).
        #[arg(long)]
        signature: Option<String>,
        /// ONNX models: describe the graph with NCHW inputs and outputs kept.
        #[arg(long)]
        keep_nchw: bool,
    },
    /// List the TensorFlow ops the converter maps to Keras layers (with --onnx: the ONNX ops
    /// it translates).
    Ops {
        /// List the ONNX ops instead.
        #[arg(long)]
        onnx: bool,
    },
    /// Verify every model below a folder (.pb and .onnx files, SavedModel folders, folders with
    /// a meta.json) and write zoo.md / zoo.json (and JUnit XML). Exit code 0 only if every
    /// model passed every check.
    Zoo {
        /// Folder of models, searched recursively; each is named by its path relative to it.
        dir: PathBuf,
        /// Folder for the emitted .h5 files.
        #[arg(long, default_value = "out/zoo")]
        out_dir: PathBuf,
        /// Folder for zoo.md, zoo.json and the per-model reports.
        #[arg(long, default_value = "reports")]
        report_dir: PathBuf,
        /// Models verified at once (further limited by available memory).
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Random samples per model without input files in its meta.json (models with them are
        /// verified on that data).
        #[arg(long, default_value_t = 8)]
        samples: usize,
        /// Seconds one model may take before it is killed and reported as a hang.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Python with TensorFlow, tf-keras and Keras 3, to check loads of every .h5.
        #[arg(long, requires = "keras_check_script")]
        python: Option<PathBuf>,
        /// The keras_check.py script.
        #[arg(long, requires = "python")]
        keras_check_script: Option<PathBuf>,
        /// Verify only shard K of N (1-based): every N-th model in the order of their relative
        /// paths, so N runs with K = 1..N cover every model exactly once (see zoo-merge).
        #[arg(long, value_name = "K/N")]
        shard: Option<zoo::Shard>,
        /// Also write JUnit XML (one test case per model) to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Compare every layer of every model (the per-layer plots of the HTML report), not
        /// only of those whose outputs differ.
        #[arg(long)]
        layers: bool,
    },
    /// Merge the report folders of the shards of one zoo run (`zoo --shard K/N`) into the
    /// reports one run over the whole zoo gives. Exit code 0 only if every model passed.
    ZooMerge {
        /// Folder for the merged zoo.md, zoo.json and per-model reports.
        #[arg(long)]
        report_dir: PathBuf,
        /// Also write JUnit XML to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// The --report-dir of each shard.
        #[arg(required = true)]
        shard_report_dirs: Vec<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    /// A frozen GraphDef .pb, a SavedModel directory (TF2, TF1 or Keras-exported), an ONNX
    /// .onnx file (opsets 7-21), a directory holding one of these, or a Keras 2.x / tf-keras
    /// .h5 file to upgrade.
    model: PathBuf,
    /// ONNX models: keep the NCHW layout of 4-D inputs and outputs (Permute layers convert
    /// inside the model); by default the .h5 model takes and gives NHWC tensors.
    #[arg(long)]
    keep_nchw: bool,
    /// SavedModel signature to convert (default serving_default; `tf2h5 inspect` lists them).
    #[arg(long)]
    signature: Option<String>,
    /// Output .h5 path (default: <model name>.h5 in --out-dir).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Folder for the default output path.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// Replace OUTPUT if it exists (only ever after a successful verification).
    #[arg(long)]
    force: bool,
    /// Number of random samples.
    #[arg(long, default_value_t = 8)]
    samples: usize,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Absolute tolerance.
    #[arg(long, default_value_t = tf2h5_verify::Tolerance::default().atol)]
    atol: f32,
    /// Relative tolerance.
    #[arg(long, default_value_t = tf2h5_verify::Tolerance::default().rtol)]
    rtol: f32,
    /// Use this data for a model input instead of random samples: NAME=FILE.npy (float32,
    /// first axis = samples). Repeat for each input.
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    inputs: Vec<String>,
    /// Verify an input at this shape (batch first, e.g. x=1x10101x4): sizes for the input's
    /// unknown dimensions instead of those derived from the graph. The first one per input is
    /// the size a dimension the model cannot keep unknown is fixed at; repeat it for more sizes.
    #[arg(long = "input-shape", value_name = "NAME=AxBxC")]
    input_shapes: Vec<String>,
    /// ONNX models: translate an input at this shape (ONNX layout, batch first, e.g.
    /// x=1x3x640x640), fixing its unknown sizes in the `.h5`. For graphs that compute sizes
    /// from an unknown dimension, which no Keras layer can keep unknown.
    #[arg(long = "fix-input-shape", value_name = "NAME=AxBxC")]
    fixed_input_shapes: Vec<String>,
    /// Output node(s) of the graph (default: nodes nothing else reads).
    #[arg(long = "output-node", value_name = "NODE")]
    output_nodes: Vec<String>,
    /// Folder for the JSON and Markdown reports.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Print the report as JSON instead of the summary table.
    #[arg(long)]
    json: bool,
    /// Compare every layer with its TF node even when the outputs match.
    #[arg(long)]
    layers: bool,
    /// Name of the report files (default: the model's name); the zoo names them by path.
    #[arg(long, hide = true)]
    report_name: Option<String>,
}

fn main() -> ExitCode {
    // `tf2h5 inspect x.h5` reads the file in a child process (see `isolate`).
    if let Some(code) = isolate::child_entry() {
        return code;
    }
    let cli = Cli::parse();
    // A panic is reported once, on one line, by the handler below, not with a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!(
            "tf2h5: internal error{location}: {} (a bug: please report it with the model)",
            one_line(&info.to_string())
        );
    }));
    // A panic is a bug, but the exit-code contract must hold even then.
    let result = std::panic::catch_unwind(|| run(cli));
    match result {
        Ok(Ok(code)) => code,
        Ok(Err(error)) => {
            eprintln!("tf2h5: error: {}", one_line(&format!("{error:#}")));
            ExitCode::from(2)
        }
        // The panic hook has printed the message.
        Err(_) => ExitCode::from(2),
    }
}

/// Writes to stdout; a closed pipe (`tf2h5 inspect m | head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// Error messages are one line: nested causes from tract may carry newlines.
fn one_line(message: &str) -> String {
    message.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Verify(args) => verify(args),
        Command::Inspect { model, signature, keep_nchw } => {
            let options = tf2h5_verify::Options {
                load: tf2h5_tf::LoadOptions { signature },
                onnx: tf2h5_onnx::Options { keep_nchw, ..Default::default() },
                ..Default::default()
            };
            emit(&inspect::inspect(&model, &options).map_err(|e| naming(e, &model))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ops { onnx } => {
            let ops = if onnx { tf2h5_onnx::supported_ops().to_vec() } else { tf2h5_convert::supported_ops() };
            emit(&ops.iter().map(|op| format!("{op}\n")).collect::<String>());
            Ok(ExitCode::SUCCESS)
        }
        Command::Zoo {
            dir,
            out_dir,
            report_dir,
            jobs,
            samples,
            timeout,
            python,
            keras_check_script,
            shard,
            junit,
            layers,
        } => {
            let options = zoo::ZooOptions {
                dir,
                out_dir,
                report_dir,
                jobs,
                samples,
                timeout: std::time::Duration::from_secs(timeout),
                keras_check: python.zip(keras_check_script),
                shard,
                junit,
                layers,
            };
            let all_passed = zoo::run(&options)?;
            Ok(zoo_outcome(all_passed, &options.report_dir))
        }
        Command::ZooMerge { report_dir, junit, shard_report_dirs } => {
            let all_passed = zoo::merge(&shard_report_dirs, &report_dir, junit.as_deref())?;
            Ok(zoo_outcome(all_passed, &report_dir))
        }
    }
}

fn zoo_outcome(all_passed: bool, report_dir: &Path) -> ExitCode {
    let verdict = if all_passed { "all passed" } else { "FAILURES" };
    emit(&format!("zoo: {verdict}; see {}\n", report_dir.join("zoo.md").display()));
    if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.out_dir.join(format!("{}.h5", tf2h5_verify::model_name(&args.model))));
    // Keras 3 only loads these suffixes; refuse early, before any work.
    if !output.extension().is_some_and(|e| e == "h5" || e == "hdf5") {
        bail!("output '{}' must end in .h5 or .hdf5 (Keras 3 refuses other names)", output.display());
    }
    if output.exists() && !args.force {
        bail!(
            "output '{}' exists; pass --force to replace it (it is only replaced after a successful verification)",
            output.display()
        );
    }
    let options = tf2h5_verify::Options {
        samples: args.samples,
        seed: args.seed,
        tolerance: tf2h5_verify::Tolerance { atol: args.atol, rtol: args.rtol },
        inputs: read_inputs(&args.inputs)?,
        convert: tf2h5_convert::Options { outputs: args.output_nodes.clone(), ..Default::default() },
        all_layers: args.layers,
        load: tf2h5_tf::LoadOptions { signature: args.signature.clone() },
        onnx: tf2h5_onnx::Options {
            keep_nchw: args.keep_nchw,
            fixed_shapes: fixed_shapes(&args)?,
            ..Default::default()
        },
        input_shapes: parse_shapes("--input-shape", &args.input_shapes)?,
        // Stage by stage on stderr when it is a terminal; never in --json output.
        progress: if args.json { tf2h5_verify::Progress::hidden() } else { tf2h5_verify::Progress::stderr() },
    };
    let outcome = if tf2h5_verify::source::is_hdf5(&args.model) {
        // Untrusted HDF5 is read in a child process: the C library can crash or hang on it.
        let raw = isolate::read_raw_h5(&args.model)?;
        tf2h5_verify::verify_keras_h5(&args.model, &raw, &options)
    } else {
        tf2h5_verify::verify(&args.model, &options)
    };
    options.progress.finish();
    let mut outcome = outcome.map_err(|e| name_the_file(e, &args))?;
    // The stages measured their own peaks; anything after them (reports) counts too.
    let since_last_stage = tf2h5_verify::memory::peak_resident_mib();
    outcome.report.peak_rss_mib = match (outcome.report.peak_rss_mib, since_last_stage) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if let Some(name) = &args.report_name {
        outcome.report.model = name.clone();
    }
    let report = &outcome.report;
    write_reports(&args.report_dir, report)?;
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(report)?));
    } else {
        emit(&report.summary());
    }
    if !report.passed {
        eprintln!("tf2h5: outputs differ from the source model; nothing written to '{}'", output.display());
        return Ok(ExitCode::from(1));
    }
    if let Some(folder) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("creating '{}'", folder.display()))?;
    }
    // Without --force, an output that appeared meanwhile (another run) is not replaced either.
    let written =
        if args.force { atomic::replace(&output, &outcome.h5) } else { atomic::create_new(&output, &outcome.h5) };
    written.with_context(|| format!("writing '{}'", output.display()))?;
    if !args.json {
        emit(&format!(
            "wrote {} ({} bytes); reports in {}\n",
            output.display(),
            outcome.h5.len(),
            args.report_dir.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn write_reports(dir: &Path, report: &tf2h5_verify::Report) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating report folder '{}'", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    atomic::replace(&dir.join(format!("{}.json", report.model)), json.as_bytes())?;
    atomic::replace(&dir.join(format!("{}.md", report.model)), report.to_markdown().as_bytes())?;
    let plot = report.layer_plot_svg();
    if let Some(svg) = &plot {
        atomic::replace(&dir.join(format!("{}.layers.svg", report.model)), svg.as_bytes())?;
    }
    let page = html::page(
        &format!("tf2h5 verify: {}", report.model),
        &format!(
            "<h1>tf2h5 verify: {}</h1>\n{}",
            html::escape(&report.model),
            html::verify_section(&serde_json::to_value(report)?, plot.as_deref())
        ),
    );
    atomic::replace(&dir.join(format!("{}.html", report.model)), page.as_bytes())?;
    Ok(())
}

/// Every refusal names a file. Loader errors already name theirs; converter and oracle
/// errors name only the node, so the model path goes in front; input errors name the
/// `--input` files.
fn name_the_file(error: tf2h5_verify::VerifyError, args: &VerifyArgs) -> anyhow::Error {
    if let tf2h5_verify::VerifyError::Input(_) = &error {
        let files: Vec<&str> =
            args.inputs.iter().filter_map(|spec| spec.split_once('=').map(|(_, file)| file)).collect();
        if !files.is_empty() {
            return anyhow::anyhow!("{}: {error}", files.join(", "));
        }
    }
    naming(error.into(), &args.model)
}

/// `error`, prefixed with `path` unless it already names it.
fn naming(error: anyhow::Error, path: &Path) -> anyhow::Error {
    let shown = path.display().to_string();
    if format!("{error:#}").contains(&shown) {
        error
    } else {
        error.context(shown)
    }
}

/// The `NAME=1x64x4` values of `flag` → names and sizes.
fn parse_shapes(flag: &str, specs: &[String]) -> Result<Vec<(String, Vec<usize>)>> {
    specs.iter().map(|spec| parse_shape(flag, spec)).collect()
}

fn parse_shape(flag: &str, spec: &str) -> Result<(String, Vec<usize>)> {
    let (name, shape) = spec
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .with_context(|| format!("{flag} '{spec}' is not NAME=AxBxC"))?;
    let sizes = shape
        .split('x')
        .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
        .collect::<Option<Vec<_>>>()
        .with_context(|| format!("{flag} '{spec}': '{shape}' is not positive sizes joined by 'x' (1x64x4)"))?;
    Ok((name.to_string(), sizes))
}

/// `--fix-input-shape`, which only the ONNX translator reads.
fn fixed_shapes(args: &VerifyArgs) -> Result<Vec<(String, Vec<usize>)>> {
    if !args.fixed_input_shapes.is_empty() && !tf2h5_onnx::is_onnx(&args.model) {
        bail!("--fix-input-shape applies to ONNX models only; for '{}' use --input-shape", args.model.display());
    }
    parse_shapes("--fix-input-shape", &args.fixed_input_shapes)
}

fn read_inputs(specs: &[String]) -> Result<Vec<(String, ndarray::ArrayD<f32>)>> {
    specs
        .iter()
        .map(|spec| {
            let (name, file) =
                spec.split_once('=').with_context(|| format!("--input '{spec}' is not NAME=FILE.npy"))?;
            Ok((name.to_string(), npy::read_f32(Path::new(file))?))
        })
        .collect()
}
