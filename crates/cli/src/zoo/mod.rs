//! `tf2h5 zoo DIR`: the regression suite over a folder of models.
//!
//! Every `.pb`, `.onnx`, SavedModel directory and `meta.json` folder below DIR is one model
//! (see `discover`), named by its path relative to DIR; `--shard K/N` keeps every N-th of
//! them. Each is verified by a child `tf2h5 verify` process, so one model's failure, crash
//! or memory use cannot take the suite down; models run in parallel while their estimated
//! memory fits in the memory available. Then, if asked, the Keras load check runs on every
//! emitted `.h5` in tf-keras and Keras 3. The results go to `zoo.md`, `zoo.json` and JUnit
//! and `zoo.html` (see `report`); `tf2h5 zoo-merge` joins the reports of the shards.

mod discover;
mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Output;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

pub use discover::Shard;
use discover::ZooModel;
pub use report::merge;
use report::{ZooEntry, ZooRun};

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
    /// Verify only this shard of the models.
    pub shard: Option<Shard>,
    /// Also write JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Compare every layer of every model (`verify --layers`).
    pub layers: bool,
}

/// Runs the suite; returns whether every model passed every check.
pub fn run(options: &ZooOptions) -> Result<bool> {
    let found = discover::discover(&options.dir)?;
    anyhow::ensure!(
        !found.is_empty(),
        "{}: no models (.pb, .onnx, SavedModel folders) below it",
        options.dir.display()
    );
    let discovered = found.len();
    let mut models = match options.shard {
        Some(shard) => shard.select(found),
        None => found,
    };
    // Big models first, so the long ones start early and small ones fill the gaps.
    models.sort_by_key(|model| std::cmp::Reverse(model.bytes));
    std::fs::create_dir_all(&options.out_dir).with_context(|| format!("creating '{}'", options.out_dir.display()))?;
    std::fs::create_dir_all(&options.report_dir)
        .with_context(|| format!("creating '{}'", options.report_dir.display()))?;

    // Drawn only when stderr is a terminal (indicatif hides it otherwise).
    let progress = indicatif::ProgressBar::new(models.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} done, {prefix} failed, ETA {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    progress.set_prefix("0");
    let failed = std::sync::atomic::AtomicUsize::new(0);
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
                    if !entry.passed {
                        let failed = failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress.set_prefix(failed.to_string());
                    }
                    progress.inc(1);
                    if let Ok(mut entries) = entries.lock() {
                        entries.push(entry);
                    }
                }
            });
        }
    });
    progress.finish_and_clear();
    let mut entries = entries.into_inner().unwrap_or_default();
    entries.sort_by(|a, b| a.model.cmp(&b.model));

    if let Some((python, script)) = &options.keras_check {
        merge_keras_check(&mut entries, python, script, options)?;
    }
    let mut run = ZooRun::new(entries, options.samples, options.keras_check.is_some(), discovered);
    run.shard = options.shard;
    report::write(&run, &options.report_dir, options.junit.as_deref())?;
    Ok(run.all_passed)
}

fn verify_one(model: &ZooModel, options: &ZooOptions) -> ZooEntry {
    let mut entry = ZooEntry::new(model.name.clone(), model.format.clone(), model.bytes);
    if let Some(problem) = &model.problem {
        entry.failure = Some(problem.clone());
        return entry;
    }
    let output = options.out_dir.join(format!("{}.h5", model.file_stem()));
    let start = Instant::now();
    let result = std::env::current_exe().context("locating tf2h5").and_then(|exe| {
        let mut command = Command::new(exe);
        command
            .arg("verify")
            .arg(&model.path)
            .arg("-o")
            .arg(&output)
            .args(["--force", "--json", "--samples", &options.samples.to_string(), "--report-dir"])
            .arg(&options.report_dir)
            .arg("--report-name")
            .arg(model.file_stem());
        if options.layers {
            command.arg("--layers");
        }
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
                // The child's last line is its one-line error.
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
                last.trim_start_matches("tf2h5: error: ").to_string()
            });
        }
    }
    entry
}

/// Runs `command` to completion, killing it after `timeout` (a hang must not stall the suite).
fn run_with_timeout(command: Command, timeout: Duration) -> Result<Output> {
    crate::isolate::output_within(command, timeout)
        .context("starting tf2h5 verify")?
        .with_context(|| format!("timed out after {} s (killed)", timeout.as_secs()))
}

/// keras_check.py compares loads with the reference outputs of the `meta.json` folders at
/// the top of the zoo; only those that verified in this run are checked.
fn merge_keras_check(entries: &mut [ZooEntry], python: &Path, script: &Path, options: &ZooOptions) -> Result<()> {
    let checkable = |e: &ZooEntry| !e.model.contains('/') && options.dir.join(&e.model).join("meta.json").is_file();
    for entry in entries.iter_mut() {
        entry.keras_checkable = checkable(entry);
    }
    if !entries.iter().any(|e| e.keras_checkable && e.passed) {
        return Ok(());
    }
    eprintln!("keras-check: loading every emitted .h5 in tf-keras 2.21 and Keras 3.15 ...");
    let mut command = Command::new(python);
    command.arg(script).arg("--fixtures").arg(&options.dir).arg("--h5-dir").arg(&options.out_dir);
    // Cases that failed verification have no .h5 (do not count them twice); other shards' are elsewhere.
    let to_check: Vec<&str> =
        entries.iter().filter(|e| e.keras_checkable && e.passed).map(|e| e.model.as_str()).collect();
    for case in std::fs::read_dir(&options.dir)?.filter_map(|e| e.ok()) {
        let name = case.file_name().to_string_lossy().into_owned();
        if case.path().join("meta.json").is_file() && !to_check.contains(&name.as_str()) {
            command.args(["--skip", &name]);
        }
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
