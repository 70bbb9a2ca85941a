//! The kill test: SIGKILL `tf2h5 verify` at random moments and check that the output path
//! is always either absent (or the file that was there before) or the complete new file.
//!
//! A run is first calibrated (enough `--samples` for it to last `target`), and an
//! uninterrupted run gives the reference bytes (tf2h5's output is deterministic). Kills
//! alternate between an absent output and an existing one replaced with `--force`. A third of
//! the runs set `TF2H5_TEST_WRITE_DELAY_MS`, which spreads each atomic write (the reports, then
//! the output) over time, and are killed a random fraction of the way through the output's
//! write (timed from the appearance of its temp file), so kills also land inside the write,
//! not only before or after it. At the end, leftover temp
//! files are aged and one more run must remove them (the stale-temp rule).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::exec::{self, End, Invocation, Limits};
use crate::rng::Rng;

/// What the kill test found.
#[derive(Debug, Clone, Default)]
pub struct KillSummary {
    /// SIGKILLs sent.
    pub kills: usize,
    /// Runs that finished before their kill time.
    pub finished_first: usize,
    /// Kills after which the output was absent or the old file.
    pub untouched: usize,
    /// Kills after which the output was the complete new file.
    pub replaced: usize,
    /// Kills that left a temp file (interrupted during the write).
    pub interrupted_writes: usize,
    /// Kills timed from the appearance of the output's temp file (slowed runs).
    pub aimed_at_write: usize,
    /// Kills with an existing output beforehand.
    pub with_existing_output: usize,
    /// `--samples` used.
    pub samples: usize,
    /// Duration of one uninterrupted run.
    pub run_time: Duration,
    /// Stale temp files a final run removed.
    pub stale_temps_removed: usize,
    /// Contract violations (partial, missing or foreign output; leftovers not cleaned).
    pub violations: Vec<String>,
}

impl KillSummary {
    /// The summary as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "kills": self.kills, "finished_before_kill": self.finished_first, "untouched": self.untouched,
            "replaced": self.replaced, "interrupted_writes": self.interrupted_writes, "aimed_at_write": self.aimed_at_write,
            "with_existing_output": self.with_existing_output, "samples": self.samples,
            "run_ms": self.run_time.as_millis() as u64, "stale_temps_removed": self.stale_temps_removed,
            "violations": self.violations,
        })
    }
}

fn verify_invocation(
    binary: &Path,
    model: &Path,
    out: &Path,
    dir: &Path,
    samples: usize,
    force: bool,
    delay: Option<u64>,
) -> Invocation {
    let mut args = vec![
        "verify".to_string(),
        model.to_string_lossy().into_owned(),
        "-o".into(),
        out.to_string_lossy().into_owned(),
        "--report-dir".into(),
        dir.join("reports").to_string_lossy().into_owned(),
        "--samples".into(),
        samples.to_string(),
    ];
    if force {
        args.push("--force".into());
    }
    let env = delay.map(|ms| vec![("TF2H5_TEST_WRITE_DELAY_MS".to_string(), ms.to_string())]).unwrap_or_default();
    Invocation { program: binary.to_path_buf(), args, cwd: dir.to_path_buf(), env }
}

/// `TF2H5_TEST_WRITE_DELAY_MS` of the slowed runs.
const DELAY_MS: u64 = 120;

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".tmp")).collect())
        .unwrap_or_default()
}

/// Runs `kills` SIGKILLs against `tf2h5 verify MODEL` in `work`.
pub fn run(
    binary: &Path,
    model: &Path,
    work: &Path,
    kills: usize,
    seed: u64,
    target: Duration,
    limits: Limits,
) -> Result<KillSummary, String> {
    let _ = std::fs::remove_dir_all(work);
    let out_dir = work.join("out");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let out = out_dir.join("model.h5");
    let mut summary = KillSummary::default();

    // Calibrate the run length, then take the reference output from a full run.
    let timed = |samples: usize| -> Result<(Duration, Vec<u8>), String> {
        let _ = std::fs::remove_file(&out);
        let start = Instant::now();
        let run = verify_invocation(binary, model, &out, work, samples, false, None)
            .run(limits, &work.join("log"))
            .map_err(|e| e.to_string())?;
        if run.end != End::Exit(0) {
            return Err(format!("the kill-test model does not verify: {:?} {}", run.end, run.stderr.trim()));
        }
        Ok((start.elapsed(), std::fs::read(&out).map_err(|e| e.to_string())?))
    };
    let (probe, _) = timed(16)?;
    let per_sample = probe.as_secs_f64() / 16.0;
    summary.samples = ((target.as_secs_f64() / per_sample.max(1e-4)) as usize).clamp(1, 5000);
    let (run_time, reference) = timed(summary.samples)?;
    summary.run_time = run_time;
    let old: Vec<u8> = (0..reference.len() + 1234).map(|i| (i * 7 % 251) as u8).collect();

    let mut rng = Rng::new(seed);
    for k in 0..kills {
        let existing = k % 2 == 1;
        let _ = std::fs::remove_file(&out);
        if existing {
            std::fs::write(&out, &old).map_err(|e| e.to_string())?;
            summary.with_existing_output += 1;
        }
        let before: Vec<PathBuf> = temp_files(&out_dir);
        // Slow writes for a third of the runs, with kills aimed at the end of the run.
        // The hook slows every atomic write: the three reports, then the output.
        let delay = (k % 3 == 2).then_some(DELAY_MS);
        let t = run_time.as_secs_f64();
        // Slowed runs are killed inside the output's write: a random fraction of the way
        // through it, timed from the moment its temp file appears.
        let at = match delay {
            Some(_) => t * 3.0 + 2.0,
            None => t * 1.15 * rng.unit(),
        };
        let into_write = Duration::from_secs_f64(rng.unit() * 0.9 * DELAY_MS as f64 / 1000.0);
        let invocation = verify_invocation(binary, model, &out, work, summary.samples, existing, delay);
        let start = Instant::now();
        let pid = invocation.spawn(limits, None).map_err(|e| e.to_string())?;
        let mut deadline = start + Duration::from_secs_f64(at);
        let temp = out_dir.join(format!(".model.h5.tf2h5-{pid}.tmp"));
        let mut aimed = false;
        // Poll so that a run finishing early is seen as finished, not killed.
        let mut finished = None;
        while Instant::now() < deadline {
            if delay.is_some() && !aimed && temp.exists() {
                aimed = true;
                deadline = Instant::now() + into_write;
            }
            let mut status = 0;
            // SAFETY: plain syscall on our own child.
            let done = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
            if done == pid as libc::pid_t {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if delay.is_some() && aimed {
            summary.aimed_at_write += 1;
        }
        if finished.is_none() {
            exec::kill_group(pid);
            let (end, _) = exec::reap(pid, None);
            if end == End::Exit(0) {
                summary.finished_first += 1;
            }
        } else {
            summary.finished_first += 1;
        }
        summary.kills += 1;
        let left: Vec<PathBuf> = temp_files(&out_dir).into_iter().filter(|p| !before.contains(p)).collect();
        if !left.is_empty() {
            summary.interrupted_writes += 1;
        }
        match std::fs::read(&out) {
            Ok(bytes) if bytes == reference => summary.replaced += 1,
            Ok(bytes) if existing && bytes == old => summary.untouched += 1,
            Ok(bytes) => summary.violations.push(format!(
                "kill {k} at {at:.3} s: the output holds {} bytes that are neither the old nor the new file",
                bytes.len()
            )),
            Err(_) if !existing => summary.untouched += 1,
            Err(_) => summary.violations.push(format!("kill {k} at {at:.3} s: the existing output disappeared")),
        }
    }

    // Leftover temp files of killed runs are stale: age them past the rule's grace period;
    // the next run into the folder must remove them.
    let stale = temp_files(&out_dir);
    for path in &stale {
        if let Ok(file) = std::fs::File::options().write(true).open(path) {
            let _ = file.set_modified(SystemTime::now() - Duration::from_secs(3600));
        }
    }
    let run = verify_invocation(binary, model, &out, work, 1, true, None)
        .run(limits, &work.join("log"))
        .map_err(|e| e.to_string())?;
    if run.end != End::Exit(0) {
        summary.violations.push(format!("final run failed: {:?} {}", run.end, run.stderr.trim()));
    }
    let remaining = temp_files(&out_dir);
    summary.stale_temps_removed = stale.len().saturating_sub(remaining.len());
    if !remaining.is_empty() {
        summary.violations.push(format!("stale temp files not removed: {remaining:?}"));
    }
    if std::fs::read(&out).ok().as_deref() != Some(reference.as_slice()) {
        summary.violations.push("the final output differs from the reference".into());
    }
    Ok(summary)
}
