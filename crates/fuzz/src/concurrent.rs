//! Two tf2h5 processes writing into one folder must give what sequential runs give.
//!
//! Per round, with the reference bytes of each model taken from sequential runs first:
//! - **different models, one folder** (shared report folder too): both exit 0, and each output
//!   is byte-identical to its sequential reference;
//! - **same output, `--force` twice**: both exit 0, the output is the reference, no temp left;
//! - **same output, no `--force`, absent before**: as sequentially, exactly one run writes it
//!   and the other exits 2 saying the output exists.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::exec::{self, End, Invocation, Limits};

/// What the concurrency test found.
#[derive(Debug, Clone, Default)]
pub struct ConcurrencySummary {
    /// Rounds run.
    pub rounds: usize,
    /// Pairs of processes started.
    pub pairs: usize,
    /// Outputs compared byte for byte with their sequential reference.
    pub outputs_identical: usize,
    /// Deterministic output: a second sequential run (after > 1 s) gave identical bytes.
    pub deterministic: bool,
    /// Contract violations.
    pub violations: Vec<String>,
}

impl ConcurrencySummary {
    /// The summary as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "rounds": self.rounds, "pairs": self.pairs, "outputs_identical": self.outputs_identical,
            "deterministic": self.deterministic, "violations": self.violations,
        })
    }
}

fn invocation(binary: &Path, model: &Path, out: &Path, dir: &Path, force: bool) -> Invocation {
    let mut args = vec![
        "verify".to_string(),
        model.to_string_lossy().into_owned(),
        "-o".into(),
        out.to_string_lossy().into_owned(),
        "--report-dir".into(),
        dir.join("reports").to_string_lossy().into_owned(),
        "--samples".into(),
        "2".into(),
    ];
    if force {
        args.push("--force".into());
    }
    Invocation { program: binary.to_path_buf(), args, cwd: dir.to_path_buf(), env: vec![] }
}

/// Runs two invocations at once; returns their exit codes (and stderr).
fn pair(a: &Invocation, b: &Invocation, limits: Limits, logs: &Path) -> Result<[(End, String); 2], String> {
    let logs_a = logs.join("a");
    let logs_b = logs.join("b");
    let (ra, rb) = std::thread::scope(|scope| {
        let ha = scope.spawn(|| a.run(limits, &logs_a));
        let hb = scope.spawn(|| b.run(limits, &logs_b));
        (ha.join(), hb.join())
    });
    let unwrap = |r: std::thread::Result<std::io::Result<exec::Run>>| -> Result<(End, String), String> {
        let run = r.map_err(|_| "runner thread panicked".to_string())?.map_err(|e| e.to_string())?;
        Ok((run.end, run.stderr))
    };
    Ok([unwrap(ra)?, unwrap(rb)?])
}

fn temps(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|e| e.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".tmp")).collect())
        .unwrap_or_default()
}

/// Runs `rounds` rounds over `models` (at least one; two or more to pair different models).
pub fn run(
    binary: &Path,
    models: &[(String, PathBuf)],
    work: &Path,
    rounds: usize,
    limits: Limits,
) -> Result<ConcurrencySummary, String> {
    if models.is_empty() {
        return Err("no models".into());
    }
    let _ = std::fs::remove_dir_all(work);
    let seq = work.join("sequential");
    std::fs::create_dir_all(&seq).map_err(|e| e.to_string())?;
    let mut summary = ConcurrencySummary { deterministic: true, ..Default::default() };
    let mut references = Vec::new();
    for (name, model) in models {
        let out = seq.join(format!("{name}.h5"));
        let run =
            invocation(binary, model, &out, &seq, true).run(limits, &seq.join("log")).map_err(|e| e.to_string())?;
        if run.end != End::Exit(0) {
            return Err(format!("{name} does not verify: {:?} {}", run.end, run.stderr.trim()));
        }
        references.push(std::fs::read(&out).map_err(|e| e.to_string())?);
    }
    // Determinism: HDF5 can store timestamps; a run more than a second later must match.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = seq.join("again.h5");
    let run = invocation(binary, &models[0].1, &again, &seq, true)
        .run(limits, &seq.join("log"))
        .map_err(|e| e.to_string())?;
    if run.end != End::Exit(0) || std::fs::read(&again).ok().as_ref() != Some(&references[0]) {
        summary.deterministic = false;
        summary.violations.push(format!("{}: two sequential runs gave different bytes", models[0].0));
    }

    for round in 0..rounds {
        summary.rounds += 1;
        let dir = work.join(format!("round-{round}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let i = round % models.len();
        let j = (round + 1) % models.len();

        // Different models into one folder.
        if i != j {
            let (out_i, out_j) = (dir.join(format!("{}.h5", models[i].0)), dir.join(format!("{}.h5", models[j].0)));
            let ends = pair(
                &invocation(binary, &models[i].1, &out_i, &dir, false),
                &invocation(binary, &models[j].1, &out_j, &dir, false),
                limits,
                &dir.join("log-1"),
            )?;
            summary.pairs += 1;
            for ((end, stderr), (out, reference)) in
                ends.iter().zip([(&out_i, &references[i]), (&out_j, &references[j])])
            {
                if *end != End::Exit(0) {
                    summary
                        .violations
                        .push(format!("round {round}: concurrent run into one folder: {end:?} {}", stderr.trim()));
                } else if std::fs::read(out).ok().as_ref() == Some(reference) {
                    summary.outputs_identical += 1;
                } else {
                    summary
                        .violations
                        .push(format!("round {round}: {} differs from the sequential run", out.display()));
                }
            }
        }

        // The same output twice, with --force.
        let out = dir.join("same.h5");
        let ends = pair(
            &invocation(binary, &models[i].1, &out, &dir, true),
            &invocation(binary, &models[i].1, &out, &dir, true),
            limits,
            &dir.join("log-2"),
        )?;
        summary.pairs += 1;
        if ends.iter().any(|(e, _)| *e != End::Exit(0)) {
            summary.violations.push(format!("round {round}: --force twice: {:?} / {:?}", ends[0], ends[1]));
        } else if std::fs::read(&out).ok().as_ref() == Some(&references[i]) {
            summary.outputs_identical += 1;
        } else {
            summary
                .violations
                .push(format!("round {round}: --force twice: the output differs from the sequential run"));
        }

        // The same absent output twice, without --force: one writes, the other refuses.
        let out = dir.join("once.h5");
        let ends = pair(
            &invocation(binary, &models[i].1, &out, &dir, false),
            &invocation(binary, &models[i].1, &out, &dir, false),
            limits,
            &dir.join("log-3"),
        )?;
        summary.pairs += 1;
        let codes: Vec<End> = ends.iter().map(|(e, _)| *e).collect();
        let refusal = ends.iter().find(|(e, _)| *e == End::Exit(2)).map(|(_, s)| s.clone()).unwrap_or_default();
        if !(codes.contains(&End::Exit(0)) && codes.contains(&End::Exit(2)) && refusal.contains("--force")) {
            summary.violations.push(format!(
                "round {round}: two runs without --force: {codes:?} (expected one 0 and one 2): {}",
                refusal.trim()
            ));
        } else if std::fs::read(&out).ok().as_ref() == Some(&references[i]) {
            summary.outputs_identical += 1;
        } else {
            summary
                .violations
                .push(format!("round {round}: without --force: the output differs from the sequential run"));
        }
        let left = temps(&dir);
        if !left.is_empty() {
            summary.violations.push(format!("round {round}: temp files left: {left:?}"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(summary)
}
