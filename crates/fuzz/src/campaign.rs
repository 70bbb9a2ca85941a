//! The mutation campaign: for every fixture file, seeded mutations run through the real
//! binary, each outcome checked against tf2h5's contract.
//!
//! A trial mutates one file (plus a companion when a checksum must be kept valid), runs
//! `tf2h5 verify` on the mutated model (or with the mutated `.npy` as `--input`), or
//! `tf2h5 inspect` on a mutated model or emitted `.h5`, and classifies the run:
//! - **rejected**: exit 2, one line on stderr starting `tf2h5: error:` that names a file, and
//!   nothing written;
//! - **refuted**: exit 1 (outputs differ), nothing written;
//! - **verified**: exit 0 and the written `.h5` reads back (`tf2h5 inspect`), with a passing
//!   report and no temp file left;
//! - **accepted**: `inspect` exited 0 (it never writes);
//! - **panic** (exit 101, or stderr with "panicked" / "internal error"), **crash** (a signal:
//!   segfault, abort, stack overflow, failed allocation under the memory bound), **hang**
//!   (killed at the time bound), **files written** on a non-zero exit, and any other
//!   **violation** of the contract (an error that is not one line or names no file, an
//!   unexpected exit code, an unreadable output).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::exec::{End, Invocation, Limits, Run};
use crate::fixtures::{self, Fixture};
use crate::mutate::{self, Context, FileKind};
use crate::rng::Rng;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The tf2h5 binary.
    pub binary: PathBuf,
    /// The fixture root (`test-models`).
    pub fixtures: PathBuf,
    /// Scratch folder (trials, emitted files, kept failures).
    pub work: PathBuf,
    /// Number of trials (at least `per_file` for every target).
    pub count: usize,
    /// Minimum trials per mutated file.
    pub per_file: usize,
    /// Parallel runs.
    pub jobs: usize,
    /// Base seed.
    pub seed: u64,
    /// Time and memory bound of each run.
    pub limits: Limits,
    /// Peak resident memory (MiB) above which a run counts as a memory hog: fixtures need
    /// tens of MiB, so this flags allocation driven by sizes claimed rather than present.
    pub rss_limit_mib: u64,
    /// `--samples` of verify runs.
    pub samples: usize,
    /// Only targets whose label contains this.
    pub filter: Option<String>,
    /// Print progress to stderr.
    pub progress: bool,
}

/// One mutated file's role.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// Part of the model: the trial runs verify (or inspect) on a mutated copy of the model.
    Model,
    /// A `.npy` file, given as `--input` for the named input.
    Input(String),
    /// An `.h5` file tf2h5 wrote for the fixture: the trial runs `inspect` on it.
    Emitted,
}

/// A file to mutate.
struct Target {
    fixture: usize,
    rel: PathBuf,
    kind: FileKind,
    role: Role,
    bytes: Vec<u8>,
    label: String,
}

/// Result counters, at every level of the summary.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Runs.
    pub tried: usize,
    /// Clean refusals (exit 2).
    pub rejected: usize,
    /// Clean numeric mismatches (exit 1).
    pub refuted: usize,
    /// Verified and written (exit 0, output checked).
    pub verified: usize,
    /// `inspect` exit 0.
    pub accepted: usize,
    /// Panics.
    pub panics: usize,
    /// Deaths by signal.
    pub crashes: usize,
    /// Runs killed at the time bound.
    pub hangs: usize,
    /// Non-zero exits that left a file behind.
    pub files_written: usize,
    /// Other contract violations.
    pub violations: usize,
    /// Runs whose peak RSS exceeded `rss_limit_mib`.
    pub memory_hogs: usize,
    /// Refusals naming the mutated file itself.
    pub errors_naming_mutated_file: usize,
    /// Refusals naming the model (but not the mutated file).
    pub errors_naming_model_only: usize,
    /// Refusals where the HDF5 library crashed or hung in tf2h5's reader child process
    /// (contained: the parent reports a clean error, but the library is not hardened).
    pub contained_hdf5_failures: usize,
    /// Slowest run, ms.
    pub max_ms: u64,
    /// Largest peak RSS, KiB.
    pub max_rss_kib: u64,
    /// The trials with the slowest run and the largest peak RSS.
    pub slowest_trial: usize,
    /// See `slowest_trial`.
    pub heaviest_trial: usize,
}

impl Counts {
    fn add(&mut self, verdict: &Verdict, run: &Run, trial: usize) {
        self.tried += 1;
        match verdict {
            Verdict::Rejected { names_file, contained } => {
                self.rejected += 1;
                self.contained_hdf5_failures += usize::from(*contained);
                if *names_file {
                    self.errors_naming_mutated_file += 1;
                } else {
                    self.errors_naming_model_only += 1;
                }
            }
            Verdict::Refuted => self.refuted += 1,
            Verdict::Verified => self.verified += 1,
            Verdict::Accepted => self.accepted += 1,
            Verdict::Panic => self.panics += 1,
            Verdict::Crash(_) => self.crashes += 1,
            Verdict::Hang => self.hangs += 1,
            Verdict::Written(_) => self.files_written += 1,
            Verdict::Violation(_) => self.violations += 1,
            Verdict::MemoryHog(_) => self.memory_hogs += 1,
        }
        if run.elapsed.as_millis() as u64 > self.max_ms {
            self.max_ms = run.elapsed.as_millis() as u64;
            self.slowest_trial = trial;
        }
        if run.max_rss_kib > self.max_rss_kib {
            self.max_rss_kib = run.max_rss_kib;
            self.heaviest_trial = trial;
        }
    }

    /// Runs that broke the contract.
    pub fn bad(&self) -> usize {
        self.panics + self.crashes + self.hangs + self.files_written + self.violations + self.memory_hogs
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "tried": self.tried, "rejected": self.rejected, "refuted": self.refuted, "verified": self.verified,
            "accepted": self.accepted, "panics": self.panics, "crashes": self.crashes, "hangs": self.hangs,
            "files_written": self.files_written, "violations": self.violations, "memory_hogs": self.memory_hogs,
            "errors_naming_mutated_file": self.errors_naming_mutated_file,
            "errors_naming_model_only": self.errors_naming_model_only,
            "contained_hdf5_failures": self.contained_hdf5_failures,
            "max_ms": self.max_ms, "max_rss_kib": self.max_rss_kib,
            "slowest_trial": self.slowest_trial, "heaviest_trial": self.heaviest_trial,
        })
    }
}

/// How one run ended, judged against the contract.
#[derive(Debug, Clone)]
enum Verdict {
    Rejected { names_file: bool, contained: bool },
    Refuted,
    Verified,
    Accepted,
    Panic,
    Crash(String),
    Hang,
    Written(String),
    Violation(String),
    MemoryHog(u64),
}

impl Verdict {
    fn is_bad(&self) -> bool {
        matches!(
            self,
            Verdict::Panic
                | Verdict::Crash(_)
                | Verdict::Hang
                | Verdict::Written(_)
                | Verdict::Violation(_)
                | Verdict::MemoryHog(_)
        )
    }

    fn describe(&self) -> String {
        match self {
            Verdict::Rejected { .. } => "rejected".into(),
            Verdict::Refuted => "refuted".into(),
            Verdict::Verified => "verified".into(),
            Verdict::Accepted => "accepted".into(),
            Verdict::Panic => "panic".into(),
            Verdict::Crash(s) => format!("crash ({s})"),
            Verdict::Hang => "hang".into(),
            Verdict::Written(s) => format!("files written: {s}"),
            Verdict::Violation(s) => format!("violation: {s}"),
            Verdict::MemoryHog(mib) => format!("memory hog: peak RSS {mib} MiB"),
        }
    }
}

/// A failed trial, kept for reproduction.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Trial number.
    pub trial: usize,
    /// Target label.
    pub target: String,
    /// Mutation operators.
    pub ops: Vec<&'static str>,
    /// What went wrong.
    pub verdict: String,
    /// First lines of stderr.
    pub stderr: String,
    /// Where the inputs were kept and the command to rerun.
    pub kept: PathBuf,
    /// The command line.
    pub command: String,
}

/// The whole campaign's result.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// All runs.
    pub total: Counts,
    /// Per target file label (`cnn/frozen.pb`, ...).
    pub per_target: BTreeMap<String, Counts>,
    /// Per input kind (`frozen .pb`, `variables.index`, `.npy --input`, `.h5 inspect`, ...).
    pub per_kind: BTreeMap<String, Counts>,
    /// Per mutation operator.
    pub per_op: BTreeMap<String, Counts>,
    /// Failed trials (all of them are kept on disk).
    pub failures: Vec<Failure>,
    /// Notes: fixtures whose `.h5` could not be produced, files not read by tf2h5.
    pub notes: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
    /// Fixtures used.
    pub fixtures: Vec<String>,
}

fn kind_label(target: &Target, mode_inspect: bool) -> String {
    let name = target.rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match &target.role {
        Role::Emitted => ".h5 (inspect)".into(),
        Role::Input(_) => ".npy (--input)".into(),
        Role::Model => {
            let name = if name.contains(".data-") {
                format!("{}.data-*", name.split(".data-").next().unwrap_or(""))
            } else {
                name
            };
            let single_file = target.rel.components().count() == 1 && target.kind == FileKind::Proto;
            let name = match name.as_str() {
                onnx if single_file && onnx.ends_with(".onnx") => format!("ONNX ModelProto ({name})"),
                frozen if single_file && frozen != "saved_model.pb" => format!("frozen GraphDef .pb ({name})"),
                _ => name,
            };
            format!("{name} ({})", if mode_inspect { "inspect" } else { "verify" })
        }
    }
}

/// Produces each fixture's `.h5` with an unmodified run (the files `inspect` mutations start from).
fn emit_h5(config: &Config, fixtures: &[Fixture], notes: &mut Vec<String>) -> Vec<Option<Vec<u8>>> {
    let dir = config.work.join("emitted");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    fixtures
        .iter()
        .map(|fixture| {
            let out = dir.join(format!("{}.h5", fixture.name));
            let invocation = Invocation {
                program: config.binary.clone(),
                args: vec![
                    "verify".into(),
                    fixture.model_path().to_string_lossy().into_owned(),
                    "-o".into(),
                    out.to_string_lossy().into_owned(),
                    "--report-dir".into(),
                    dir.join("reports").to_string_lossy().into_owned(),
                    "--samples".into(),
                    config.samples.to_string(),
                ],
                cwd: dir.clone(),
                env: vec![],
            };
            match invocation.run(config.limits, &dir.join(format!("{}-log", fixture.name))) {
                Ok(run) if run.end == End::Exit(0) => std::fs::read(&out).ok(),
                Ok(run) => {
                    notes.push(format!(
                        "fixture '{}' does not verify ({:?}: {}); its .h5 is not mutated",
                        fixture.name,
                        run.end,
                        run.stderr.lines().next().unwrap_or("").trim()
                    ));
                    None
                }
                Err(e) => {
                    notes.push(format!("fixture '{}': cannot run tf2h5: {e}", fixture.name));
                    None
                }
            }
        })
        .collect()
}

fn targets(config: &Config, fixtures: &[Fixture], emitted: &[Option<Vec<u8>>], notes: &mut Vec<String>) -> Vec<Target> {
    let mut targets = Vec::new();
    for (index, fixture) in fixtures.iter().enumerate() {
        for rel in fixture.files() {
            let kind = FileKind::of(&rel);
            let role = if fixture.is_model_file(&rel) {
                Role::Model
            } else if kind == FileKind::Npy {
                let name = fixture
                    .inputs
                    .iter()
                    .find(|(_, file)| file == &rel)
                    .or(fixture.inputs.first())
                    .map(|(n, _)| n.clone());
                match name {
                    Some(name) => Role::Input(name),
                    None => {
                        notes.push(format!(
                            "{}/{}: the fixture has no inputs to feed it to; not mutated",
                            fixture.name,
                            rel.display()
                        ));
                        continue;
                    }
                }
            } else {
                notes.push(format!(
                    "{}/{}: not read by tf2h5 (outside the model); not mutated",
                    fixture.name,
                    rel.display()
                ));
                continue;
            };
            let Ok(bytes) = std::fs::read(fixture.dir.join(&rel)) else { continue };
            targets.push(Target {
                fixture: index,
                label: format!("{}/{}", fixture.name, rel.display()),
                rel,
                kind,
                role,
                bytes,
            });
        }
        if let Some(Some(h5)) = emitted.get(index) {
            let rel = PathBuf::from(format!("{}.h5", fixture.name));
            targets.push(Target {
                fixture: index,
                label: format!("{}/(emitted) {}", fixture.name, rel.display()),
                rel,
                kind: FileKind::H5,
                role: Role::Emitted,
                bytes: h5.clone(),
            });
        }
    }
    if let Some(filter) = &config.filter {
        targets.retain(|t| t.label.contains(filter.as_str()));
    }
    targets
}

/// Counts files (recursively) under `dir`.
fn file_count(dir: &Path) -> usize {
    let mut files = Vec::new();
    fixtures_walk(dir, &mut files);
    files.len()
}

fn fixtures_walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            fixtures_walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Runs the campaign.
pub fn run(config: &Config) -> Result<Summary, String> {
    let start = Instant::now();
    let fixtures = fixtures::discover(&config.fixtures)?;
    std::fs::create_dir_all(&config.work).map_err(|e| format!("{}: {e}", config.work.display()))?;
    let mut notes = Vec::new();
    let emitted = emit_h5(config, &fixtures, &mut notes);
    let targets = targets(config, &fixtures, &emitted, &mut notes);
    if targets.is_empty() {
        return Err("no files to mutate".into());
    }
    let count = config.count.max(config.per_file * targets.len());
    // Splicing donors: every file of the same kind.
    let mut donors: BTreeMap<FileKind, Vec<&[u8]>> = BTreeMap::new();
    for target in &targets {
        donors.entry(target.kind).or_default().push(&target.bytes);
    }
    let failures_dir = config.work.join("failures");
    let _ = std::fs::remove_dir_all(&failures_dir);

    let next = AtomicUsize::new(0);
    // The fixtures with a file left to mutate (all of them unless `--filter` narrowed the files).
    let mutated: std::collections::BTreeSet<usize> = targets.iter().map(|t| t.fixture).collect();
    let summary = Mutex::new(Summary {
        fixtures: mutated.iter().map(|&index| fixtures[index].name.clone()).collect(),
        notes,
        ..Default::default()
    });
    std::thread::scope(|scope| {
        for worker in 0..config.jobs.max(1) {
            let (next, summary, targets, donors, fixtures, failures_dir) =
                (&next, &summary, &targets, &donors, &fixtures, &failures_dir);
            scope.spawn(move || {
                let trial_dir = config.work.join(format!("trial-{worker}"));
                loop {
                    let trial = next.fetch_add(1, Ordering::Relaxed);
                    if trial >= count {
                        break;
                    }
                    let target = &targets[trial % targets.len()];
                    let fixture = &fixtures[target.fixture];
                    let donor_list: &[&[u8]] = donors.get(&target.kind).map(Vec::as_slice).unwrap_or(&[]);
                    let outcome = run_trial(config, trial, target, fixture, donor_list, &trial_dir);
                    let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Ok((verdict, run, ops, inspect, invocation)) => {
                            let kind = kind_label(target, inspect);
                            s.total.add(&verdict, &run, trial);
                            s.per_target.entry(target.label.clone()).or_default().add(&verdict, &run, trial);
                            s.per_kind.entry(kind).or_default().add(&verdict, &run, trial);
                            for op in &ops {
                                s.per_op.entry(op.to_string()).or_default().add(&verdict, &run, trial);
                            }
                            if verdict.is_bad() {
                                let kept = failures_dir.join(format!("{trial:06}"));
                                let _ = copy_dir(&trial_dir, &kept);
                                let command = invocation
                                    .shell()
                                    .replace(&trial_dir.to_string_lossy().into_owned(), &kept.to_string_lossy());
                                let _ = std::fs::write(kept.join("command.sh"), format!("{command}\n"));
                                let failure = Failure {
                                    trial,
                                    target: target.label.clone(),
                                    ops: ops.clone(),
                                    verdict: verdict.describe(),
                                    stderr: run
                                        .stderr
                                        .lines()
                                        .filter(|l| !l.trim().is_empty())
                                        .take(6)
                                        .collect::<Vec<_>>()
                                        .join("\n"),
                                    kept,
                                    command,
                                };
                                if config.progress {
                                    eprintln!(
                                        "FAIL trial {trial} {}: {} [{}]\n  {}",
                                        failure.target,
                                        failure.verdict,
                                        ops.join(","),
                                        failure.stderr.replace('\n', "\n  ")
                                    );
                                }
                                s.failures.push(failure);
                            }
                        }
                        Err(e) => {
                            s.notes.push(format!("trial {trial} ({}): harness error: {e}", target.label));
                        }
                    }
                    if config.progress && (s.total.tried % 500 == 0) {
                        let t = &s.total;
                        eprintln!(
                            "[{:>6}/{count}] rejected {} refuted {} verified {} accepted {} | bad {} ({:.0} s)",
                            t.tried,
                            t.rejected,
                            t.refuted,
                            t.verified,
                            t.accepted,
                            t.bad(),
                            start.elapsed().as_secs_f64()
                        );
                    }
                }
                let _ = std::fs::remove_dir_all(&trial_dir);
            });
        }
    });
    let mut summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.failures.sort_by_key(|f| f.trial);
    summary.elapsed = start.elapsed();
    Ok(summary)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(&path, to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Writes `data` at `path`, replacing (not writing through) a hard link to a fixture.
fn replace_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::write(path, data)
}

type TrialResult = (Verdict, Run, Vec<&'static str>, bool, Invocation);

fn run_trial(
    config: &Config,
    trial: usize,
    target: &Target,
    fixture: &Fixture,
    donors: &[&[u8]],
    dir: &Path,
) -> std::io::Result<TrialResult> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let seed = config.seed ^ (trial as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng::new(seed);
    let fixture_dir = fixture.dir.clone();
    let sibling = move |rel: &Path| std::fs::read(fixture_dir.join(rel)).ok();
    let context = Context { donors, sibling: &sibling };
    let mutation = mutate::mutate(target.kind, &target.rel, &target.bytes, &context, &mut rng);

    let s = |p: &Path| p.to_string_lossy().into_owned();
    let out_dir = dir.join("out");
    let reports = dir.join("reports");
    let inspect;
    let mut args: Vec<String>;
    let model_copy = dir.join("model");
    let mutated_path;
    match &target.role {
        Role::Model => {
            fixtures::link_tree(&fixture.model_path(), &model_copy.join(&fixture.name).join(&fixture.model))?;
            for (rel, data) in &mutation.files {
                replace_file(&model_copy.join(&fixture.name).join(rel), data)?;
            }
            mutated_path = model_copy.join(&fixture.name).join(&target.rel);
            let model = model_copy.join(&fixture.name).join(&fixture.model);
            inspect = rng.chance(0.2);
            args = if inspect { vec!["inspect".into(), s(&model)] } else { vec!["verify".into(), s(&model)] };
        }
        Role::Input(name) => {
            let (_, data) = &mutation.files[0];
            mutated_path = dir.join(target.rel.file_name().unwrap_or_default());
            replace_file(&mutated_path, data)?;
            inspect = false;
            args = vec!["verify".into(), s(&fixture.model_path())];
            args.extend(["--input".into(), format!("{name}={}", s(&mutated_path))]);
            for (other, file) in &fixture.inputs {
                if other != name {
                    args.extend(["--input".into(), format!("{other}={}", s(&fixture.dir.join(file)))]);
                }
            }
        }
        Role::Emitted => {
            let (_, data) = &mutation.files[0];
            mutated_path = dir.join(&target.rel);
            replace_file(&mutated_path, data)?;
            inspect = true;
            args = vec!["inspect".into(), s(&mutated_path)];
        }
    }
    let out = out_dir.join(format!("{}.h5", fixture.name));
    if !inspect {
        args.extend([
            "-o".into(),
            s(&out),
            "--report-dir".into(),
            s(&reports),
            "--samples".into(),
            config.samples.to_string(),
            "--seed".into(),
            (trial % 1000).to_string(),
        ]);
    }
    let invocation = Invocation {
        program: config.binary.clone(),
        args,
        cwd: dir.to_path_buf(),
        env: vec![("RUST_BACKTRACE".into(), "1".into())],
    };
    let files_before = file_count(&model_copy);
    let run = invocation.run(config.limits, &dir.join("log"))?;
    let model_dir_changed = file_count(&model_copy) != files_before;
    let mut verdict = judge(
        config,
        &run,
        inspect,
        &out,
        &out_dir,
        &reports,
        &mutated_path,
        &target.role,
        fixture,
        model_dir_changed,
        dir,
    );
    if !verdict.is_bad() && run.max_rss_kib > config.rss_limit_mib << 10 {
        verdict = Verdict::MemoryHog(run.max_rss_kib >> 10);
    }
    Ok((verdict, run, mutation.ops, inspect, invocation))
}

#[allow(clippy::too_many_arguments)]
fn judge(
    config: &Config,
    run: &Run,
    inspect: bool,
    out: &Path,
    out_dir: &Path,
    reports: &Path,
    mutated: &Path,
    role: &Role,
    fixture: &Fixture,
    model_dir_changed: bool,
    dir: &Path,
) -> Verdict {
    let stderr = &run.stderr;
    if stderr.contains("panicked") || stderr.contains("internal error") {
        return Verdict::Panic;
    }
    let code = match run.end {
        End::TimedOut => return Verdict::Hang,
        End::Signal(signal) => return Verdict::Crash(crate::exec::signal_name(signal)),
        End::Exit(101) => return Verdict::Panic,
        End::Exit(code) => code,
    };
    let written: Vec<String> = {
        let mut files = Vec::new();
        fixtures_walk(out_dir, &mut files);
        files.iter().map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string()).collect()
    };
    if model_dir_changed {
        return Verdict::Written("files appeared in the model folder".into());
    }
    if inspect {
        if !written.is_empty() || reports.exists() {
            return Verdict::Written(format!("inspect wrote {written:?}"));
        }
    } else if code != 0 && !written.is_empty() {
        return Verdict::Written(format!("exit {code} but wrote {written:?}"));
    }
    match code {
        0 if inspect => Verdict::Accepted,
        0 => {
            if written.len() != 1 || !out.is_file() {
                return Verdict::Violation(format!("exit 0 but the output folder holds {written:?}"));
            }
            let check = Invocation {
                program: config.binary.clone(),
                args: vec!["inspect".into(), out.to_string_lossy().into_owned()],
                cwd: dir.to_path_buf(),
                env: vec![],
            };
            match check.run(config.limits, &dir.join("check-log")) {
                Ok(r) if r.end == End::Exit(0) && r.stdout.contains("keras model") => {}
                Ok(r) => {
                    return Verdict::Violation(format!(
                        "exit 0 but the written file does not read back ({:?}: {})",
                        r.end,
                        r.stderr.trim()
                    ))
                }
                Err(e) => return Verdict::Violation(format!("cannot check the output: {e}")),
            }
            let report = std::fs::read_dir(reports)
                .ok()
                .and_then(|entries| entries.flatten().find(|e| e.path().extension().is_some_and(|x| x == "json")))
                .and_then(|e| std::fs::read_to_string(e.path()).ok())
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            match report {
                Some(r) if r["passed"] == true => Verdict::Verified,
                _ => Verdict::Violation("exit 0 without a passing report".into()),
            }
        }
        1 if !inspect => Verdict::Refuted,
        2 => {
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            if lines.len() != 1 || !lines[0].starts_with("tf2h5: error: ") {
                return Verdict::Violation(format!("exit 2 with {} stderr lines: {}", lines.len(), stderr.trim()));
            }
            let contained = ["the HDF5 library crashed", "the HDF5 library failed", "did not finish in"]
                .iter()
                .any(|m| lines[0].contains(m));
            let file_name = mutated.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if lines[0].contains(&file_name) {
                return Verdict::Rejected { names_file: true, contained };
            }
            let model_name = match role {
                Role::Model => fixture.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                _ => String::from("\u{0}never"),
            };
            if lines[0].contains(&model_name) || lines[0].contains(&fixture.name) {
                Verdict::Rejected { names_file: false, contained }
            } else {
                Verdict::Violation(format!("the error names no file: {}", lines[0]))
            }
        }
        other => Verdict::Violation(format!("unexpected exit code {other}")),
    }
}

impl Summary {
    /// Whether every run kept the contract.
    pub fn clean(&self) -> bool {
        self.total.bad() == 0
    }

    /// The summary as JSON.
    pub fn json(&self, config: &Config) -> serde_json::Value {
        let table = |m: &BTreeMap<String, Counts>| -> serde_json::Value {
            m.iter().map(|(k, v)| (k.clone(), v.json())).collect::<serde_json::Map<_, _>>().into()
        };
        json!({
            "binary": config.binary.display().to_string(),
            "fixtures": self.fixtures,
            "seed": config.seed,
            "jobs": config.jobs,
            "timeout_s": config.limits.timeout.as_secs_f64(),
            "memory_limit_mib": config.limits.memory >> 20,
            "rss_limit_mib": config.rss_limit_mib,
            "samples": config.samples,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "total": self.total.json(),
            "per_kind": table(&self.per_kind),
            "per_target": table(&self.per_target),
            "per_op": table(&self.per_op),
            "failures": self.failures.iter().map(|f| json!({
                "trial": f.trial, "target": f.target, "ops": f.ops, "verdict": f.verdict,
                "stderr": f.stderr, "kept": f.kept.display().to_string(), "command": f.command,
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }

    /// The summary as Markdown.
    pub fn markdown(&self, config: &Config) -> String {
        use std::fmt::Write as _;
        let mut md = String::new();
        let t = &self.total;
        let _ = writeln!(md, "# tf2h5 mutation campaign\n");
        let _ = writeln!(
            md,
            "{} runs of `{}` on mutations of every file{} of {} fixtures ({}), seed {}, {} in parallel, \
             each bounded to {:.0} s and {} MiB of address space (a peak RSS over {} MiB counts as a memory hog); {:.0} s in all.\n",
            t.tried,
            config.binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            config.filter.as_ref().map(|f| format!(" whose label contains `{f}`")).unwrap_or_default(),
            self.fixtures.len(),
            self.fixtures.join(", "),
            config.seed,
            config.jobs,
            config.limits.timeout.as_secs_f64(),
            config.limits.memory >> 20,
            config.rss_limit_mib,
            self.elapsed.as_secs_f64()
        );
        let header = "| | tried | rejected (exit 2) | refuted (exit 1) | verified (exit 0) | inspect ok | panics | crashes | hangs | files written | memory hogs | other violations | max ms | max RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
        let row = |name: &str, c: &Counts| {
            format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.tried,
                c.rejected,
                c.refuted,
                c.verified,
                c.accepted,
                c.panics,
                c.crashes,
                c.hangs,
                c.files_written,
                c.memory_hogs,
                c.violations,
                c.max_ms,
                c.max_rss_kib / 1024
            )
        };
        let _ = writeln!(md, "## By input kind\n\n{header}");
        for (k, c) in &self.per_kind {
            let _ = writeln!(md, "{}", row(k, c));
        }
        let _ = writeln!(md, "{}\n", row("**total**", t));
        let _ = writeln!(
            md,
            "Of the {} refusals, {} name the mutated file itself and {} name the model it belongs to. \
             {} are HDF5 library crashes or hangs contained by tf2h5's reader child process (see `crates/cli/src/isolate.rs`).\n",
            t.rejected, t.errors_naming_mutated_file, t.errors_naming_model_only, t.contained_hdf5_failures
        );
        let _ = writeln!(md, "## By file\n\n{header}");
        for (k, c) in &self.per_target {
            let _ = writeln!(md, "{}", row(k, c));
        }
        let _ = writeln!(md, "\n## By mutation operator\n\n{header}");
        for (k, c) in &self.per_op {
            let _ = writeln!(md, "{}", row(k, c));
        }
        let _ = writeln!(md, "\n## Failures\n");
        if self.failures.is_empty() {
            let _ = writeln!(md, "None.");
        }
        for f in self.failures.iter().take(100) {
            let _ = writeln!(
                md,
                "- trial {} `{}` [{}]: {}\n  ```\n  {}\n  ```\n  rerun: `{}`",
                f.trial,
                f.target,
                f.ops.join(", "),
                f.verdict,
                f.stderr.replace('\n', "\n  "),
                f.command
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        md
    }
}
