//! `tf2h5 zoo DIR`: the regression suite over a model zoo.
//!
//! Every sub-folder of DIR with a `meta.json` (the fixture layout of `test-models/`) is one
//! model. Each is verified by a child `tf2h5 verify` process, so one model's failure, crash
//! or memory use cannot take the suite down; models run in parallel while their estimated
//! memory fits in the memory available. Then, if asked, the Keras load check runs on every
//! emitted `.h5` in tf-keras and Keras 3. The table goes to `zoo.md` and `zoo.json`.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::{Output, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

/// Options of the zoo run.
pub struct ZooOptions {
    pub dir: PathBuf,
    pub out_dir: PathBuf,
    pub report_dir: PathBuf,
    pub jobs: usize,
    pub samples: usize,
    /// Longest a single model may take before it is killed and counted as a hang.
    pub timeout: Duration,
    /// Python interpreter and keras_check.py script, to check loads in both Keras versions.
    pub keras_check: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Serialize)]
struct ZooEntry {
    model: String,
    format: String,
    file_mib: f64,
    exit_code: Option<i32>,
    passed: bool,
    layers: Option<u64>,
    parameters: Option<u64>,
    max_abs_err: Option<f64>,
    max_rel_err: Option<f64>,
    max_abs_output: Option<f64>,
    first_divergence: Option<String>,
    stages_ms: Vec<(String, f64)>,
    wall_s: f64,
    peak_rss_mib: Option<f64>,
    failure: Option<String>,
    keras_check: Vec<(String, bool, Option<f64>, Option<String>)>,
}

/// Runs the suite; returns whether every model passed every check.
pub fn run(options: &ZooOptions) -> Result<bool> {
    let models = discover(&options.dir)?;
    anyhow::ensure!(!models.is_empty(), "{}: no model folders with meta.json", options.dir.display());
    std::fs::create_dir_all(&options.out_dir).with_context(|| format!("creating '{}'", options.out_dir.display()))?;
    std::fs::create_dir_all(&options.report_dir)?;

    let progress = indicatif::ProgressBar::new(models.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let budget = MemoryBudget::new(available_memory_bytes().map(|b| b * 7 / 10));
    let entries: Mutex<Vec<ZooEntry>> = Mutex::new(Vec::new());
    let queue = Mutex::new(models.iter());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| {
                while let Some(model) = queue.lock().ok().and_then(|mut q| q.next()) {
                    let estimate = model.estimated_bytes();
                    budget.acquire(estimate);
                    progress.set_message(model.name.clone());
                    let entry = verify_one(model, options);
                    budget.release(estimate);
                    progress.inc(1);
                    if let Ok(mut entries) = entries.lock() {
                        entries.push(entry);
                    }
                }
            });
        }
    });
    progress.finish_with_message("verified");
    let mut entries = entries.into_inner().unwrap_or_default();
    entries.sort_by(|a, b| a.model.cmp(&b.model));

    if let Some((python, script)) = &options.keras_check {
        merge_keras_check(&mut entries, python, script, options)?;
    }
    let all_passed = entries.iter().all(|e| {
        e.passed && e.keras_check.iter().all(|k| k.1) && (options.keras_check.is_none() || !e.keras_check.is_empty())
    });
    write_report(&entries, options, all_passed)?;
    Ok(all_passed)
}

struct ZooModel {
    name: String,
    model: PathBuf,
    /// `--input NAME=FILE` arguments from meta.json: the model's own input data (e.g. pixels
    /// in 0..255 for models with built-in preprocessing), rather than N(0, 1) noise.
    inputs: Vec<String>,
    /// meta.json's `format` (e.g. "Keras 3 export"), else guessed from the model path.
    format: String,
    bytes: u64,
}

impl ZooModel {
    /// Weights are held a few times over (graph, Keras model, h5 image, read-back) plus
    /// activations: a conservative 6× the model's bytes, at least 256 MiB.
    fn estimated_bytes(&self) -> u64 {
        (self.bytes * 6).max(256 << 20)
    }
}

fn discover(dir: &Path) -> Result<Vec<ZooModel>> {
    let mut models = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading '{}'", dir.display()))? {
        let path = entry?.path();
        let meta_path = path.join("meta.json");
        if !meta_path.is_file() {
            continue;
        }
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(&meta_path)?)
            .with_context(|| format!("{}: not JSON", meta_path.display()))?;
        let model_file = meta["model"].as_str().with_context(|| format!("{}: no \"model\"", meta_path.display()))?;
        let model = path.join(model_file);
        let inputs = meta["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|input| {
                Some(format!("{}={}", input["name"].as_str()?, path.join(input["file"].as_str()?).display()))
            })
            .collect();
        let format = match meta["format"].as_str() {
            Some(format) => format.to_string(),
            None if model.extension().is_some_and(|e| e == "pb") => "frozen .pb".into(),
            None => "SavedModel".into(),
        };
        models.push(ZooModel {
            inputs,
            format,
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            bytes: size_of_path(&model),
            model,
        });
    }
    // Big models first, so the long ones start early and small ones fill the gaps.
    models.sort_by_key(|model| std::cmp::Reverse(model.bytes));
    Ok(models)
}

fn size_of_path(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| size_of_path(&e.path())).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}

fn verify_one(model: &ZooModel, options: &ZooOptions) -> ZooEntry {
    let mut entry = ZooEntry {
        model: model.name.clone(),
        format: model.format.clone(),
        file_mib: model.bytes as f64 / (1 << 20) as f64,
        exit_code: None,
        passed: false,
        layers: None,
        parameters: None,
        max_abs_err: None,
        max_rel_err: None,
        max_abs_output: None,
        first_divergence: None,
        stages_ms: vec![],
        wall_s: 0.0,
        peak_rss_mib: None,
        failure: None,
        keras_check: vec![],
    };
    let output = options.out_dir.join(format!("{}.h5", model.name));
    let start = Instant::now();
    let result = std::env::current_exe().context("locating tf2h5").and_then(|exe| {
        let mut command = Command::new(exe);
        command
            .arg("verify")
            .arg(&model.model)
            .arg("-o")
            .arg(&output)
            .args(["--force", "--json", "--samples", &options.samples.to_string(), "--report-dir"])
            .arg(&options.report_dir);
        for input in &model.inputs {
            command.arg("--input").arg(input);
        }
        run_with_timeout(command, options.timeout)
    });
    entry.wall_s = start.elapsed().as_secs_f64();
    let output = match result {
        Ok(output) => output,
        Err(error) => {
            entry.failure = Some(format!("{error:#}"));
            return entry;
        }
    };
    entry.exit_code = output.status.code();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(report) => {
            entry.passed = report["passed"].as_bool() == Some(true) && output.status.success();
            entry.layers = report["layers"].as_u64();
            entry.parameters = report["parameters"].as_u64();
            entry.peak_rss_mib = report["peak_rss_mib"].as_f64();
            let outputs = report["outputs"].as_array().cloned().unwrap_or_default();
            let max_of = |key: &str| outputs.iter().filter_map(|o| o["comparison"][key].as_f64()).reduce(f64::max);
            entry.max_abs_err = max_of("max_abs_err");
            entry.max_rel_err = max_of("max_rel_err");
            entry.max_abs_output = max_of("max_abs_expected");
            entry.first_divergence = report["first_divergence"]["layer"]
                .as_str()
                .map(|l| format!("{l} (TF node {})", report["first_divergence"]["tf_node"].as_str().unwrap_or("?")));
            entry.stages_ms = report["stages"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .map(|s| (s["stage"].as_str().unwrap_or("").to_string(), s["ms"].as_f64().unwrap_or(0.0)))
                        .collect()
                })
                .unwrap_or_default();
            if !entry.passed {
                entry.failure = Some(match &entry.first_divergence {
                    Some(layer) => format!("outputs differ; first diverging layer {layer}"),
                    None => "outputs differ".into(),
                });
            }
        }
        Err(_) => {
            entry.failure = Some(if stderr.is_empty() {
                format!("tf2h5 exited with {:?} and no report", output.status.code())
            } else {
                stderr.trim_start_matches("tf2h5: error: ").to_string()
            });
        }
    }
    entry
}

/// Runs `command` to completion, killing it after `timeout` (a hang must not stall the suite).
fn run_with_timeout(mut command: Command, timeout: Duration) -> Result<Output> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().context("starting tf2h5 verify")?;
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout_pipe = child.stdout.take().context("no stdout")?;
    let mut stderr_pipe = child.stderr.take().context("no stderr")?;
    let stdout = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stdout_pipe.read_to_end(&mut buffer);
        buffer
    });
    let stderr = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut buffer);
        buffer
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("timed out after {} s (killed)", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}

fn merge_keras_check(entries: &mut [ZooEntry], python: &Path, script: &Path, options: &ZooOptions) -> Result<()> {
    eprintln!("keras-check: loading every emitted .h5 in tf-keras 2.21 and Keras 3.15 ...");
    let mut command = Command::new(python);
    command.arg(script).arg("--fixtures").arg(&options.dir).arg("--h5-dir").arg(&options.out_dir);
    // Models that failed verification have no .h5: do not count them twice.
    for entry in entries.iter().filter(|e| !e.passed) {
        command.args(["--skip", &entry.model]);
    }
    let status = command.status().with_context(|| format!("running {}", script.display()))?;
    let summary_path = options.out_dir.join("keras_check.json");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).with_context(|| {
        format!("keras-check exited with {:?} and wrote no {}", status.code(), summary_path.display())
    })?)?;
    for result in summary["results"].as_array().into_iter().flatten() {
        let case = result["case"].as_str().unwrap_or_default();
        if let Some(entry) = entries.iter_mut().find(|e| e.model == case) {
            entry.keras_check.push((
                result["loader"].as_str().unwrap_or("?").to_string(),
                result["ok"].as_bool() == Some(true),
                result["max_abs_err"].as_f64(),
                result["error"].as_str().map(str::to_string),
            ));
        }
    }
    Ok(())
}

fn write_report(entries: &[ZooEntry], options: &ZooOptions, all_passed: bool) -> Result<()> {
    let json = serde_json::json!({ "all_passed": all_passed, "samples": options.samples, "models": entries });
    std::fs::write(options.report_dir.join("zoo.json"), serde_json::to_string_pretty(&json)?)?;
    let mut md = String::new();
    let passed = entries.iter().filter(|e| e.passed).count();
    writeln!(md, "# tf2h5 zoo\n\n{passed} of {} models verified (on each model's own input files, or {} random samples without them); keras-check: {}.\n", entries.len(), options.samples,
        if options.keras_check.is_some() { "tf-keras 2.21 and Keras 3.15 loads" } else { "not run" })?;
    writeln!(md, "| model | format | MiB | layers | params | verify | max abs err | max rel err | max abs output | tf-keras | Keras 3 | wall s | peak RSS MiB | failure |")?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")?;
    for e in entries {
        let loader = |name: &str| {
            e.keras_check
                .iter()
                .find(|k| k.0 == name)
                .map(|k| if k.1 { format!("ok {:.1e}", k.2.unwrap_or(0.0)) } else { "**FAIL**".into() })
                .unwrap_or_else(|| "-".into())
        };
        let num = |v: Option<f64>| v.map(|v| format!("{v:.2e}")).unwrap_or_else(|| "-".into());
        let failure = e
            .failure
            .clone()
            .or_else(|| {
                e.keras_check.iter().find(|k| !k.1).map(|k| format!("{}: {}", k.0, k.3.clone().unwrap_or_default()))
            })
            .unwrap_or_default()
            .replace('|', "\\|");
        writeln!(
            md,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            e.model,
            e.format,
            e.file_mib,
            e.layers.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            e.parameters.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            if e.passed { "pass" } else { "**FAIL**" },
            num(e.max_abs_err),
            num(e.max_rel_err),
            num(e.max_abs_output),
            loader("tf_keras"),
            loader("keras3"),
            e.wall_s,
            e.peak_rss_mib.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
            failure
        )?;
    }
    writeln!(md, "\nStage times (ms) per model are in `zoo.json`; per-model reports in this folder.")?;
    std::fs::write(options.report_dir.join("zoo.md"), md)?;
    Ok(())
}

/// Admits work while the sum of running estimates fits the budget (always admits one).
struct MemoryBudget {
    limit: Option<u64>,
    used: Mutex<u64>,
    freed: Condvar,
}

impl MemoryBudget {
    fn new(limit: Option<u64>) -> Self {
        MemoryBudget { limit, used: Mutex::new(0), freed: Condvar::new() }
    }

    fn acquire(&self, bytes: u64) {
        let Ok(mut used) = self.used.lock() else { return };
        while let Some(limit) = self.limit {
            if *used == 0 || *used + bytes <= limit {
                break;
            }
            match self.freed.wait(used) {
                Ok(guard) => used = guard,
                Err(_) => return,
            }
        }
        *used += bytes;
    }

    fn release(&self, bytes: u64) {
        if let Ok(mut used) = self.used.lock() {
            *used = used.saturating_sub(bytes);
        }
        self.freed.notify_all();
    }
}

fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}
