//! The zoo's results and their reports: `zoo.json` (which `zoo-merge` reads back), `zoo.md`,
//! `zoo.html` and, when asked, JUnit XML. A merge of shard reports goes through the same writer as one
//! run over the whole zoo, so both give the same files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::discover::{file_stem, Shard};
use crate::html;

/// One model's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ZooEntry {
    /// Path relative to the zoo folder.
    pub model: String,
    pub format: String,
    pub file_mib: f64,
    pub exit_code: Option<i32>,
    pub passed: bool,
    pub layers: Option<u64>,
    pub parameters: Option<u64>,
    pub max_abs_err: Option<f64>,
    pub max_rel_err: Option<f64>,
    pub max_abs_output: Option<f64>,
    pub first_divergence: Option<String>,
    pub stages_ms: Vec<(String, f64)>,
    pub wall_s: f64,
    pub peak_rss_mib: Option<f64>,
    /// Why it failed, on one line.
    pub failure: Option<String>,
    /// Has reference outputs (a `meta.json` folder at the top of the zoo) for keras-check.
    #[serde(default)]
    pub keras_checkable: bool,
    /// (loader, loaded and matched, max abs error, error).
    pub keras_check: Vec<(String, bool, Option<f64>, Option<String>)>,
}

impl ZooEntry {
    pub fn new(model: String, format: String, bytes: u64) -> Self {
        ZooEntry {
            model,
            format,
            file_mib: bytes as f64 / (1 << 20) as f64,
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
            keras_checkable: false,
            keras_check: vec![],
        }
    }

    /// Verified, and loaded by every Keras version checked (when keras-check ran).
    fn all_checks_passed(&self, keras_checked: bool) -> bool {
        self.passed
            && self.keras_check.iter().all(|k| k.1)
            && (!keras_checked || !self.keras_checkable || !self.keras_check.is_empty())
    }

    /// The one-line reason it failed, from verification or else from the Keras load check.
    fn failure_reason(&self, keras_checked: bool) -> Option<String> {
        if let Some(failure) = &self.failure {
            return Some(failure.clone());
        }
        if let Some(k) = self.keras_check.iter().find(|k| !k.1) {
            return Some(format!("{}: {}", k.0, k.3.clone().unwrap_or_default()));
        }
        (keras_checked && self.keras_checkable && self.passed && self.keras_check.is_empty())
            .then(|| "keras-check did not check it".into())
    }

    /// What kind of failure, for JUnit's `type`: the exit-code contract of `tf2h5 verify`.
    fn failure_kind(&self) -> &'static str {
        match self.exit_code {
            Some(0) => "keras-load",
            Some(1) => "mismatch",
            Some(2) => "refused",
            _ => "crash",
        }
    }
}

/// A whole run (or one shard of it), as `zoo.json` holds it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ZooRun {
    pub all_passed: bool,
    pub samples: usize,
    pub keras_checked: bool,
    /// Models found in the whole zoo folder, before sharding.
    pub discovered: usize,
    /// The shard this run verified, or none for a whole run (and for a merge).
    pub shard: Option<Shard>,
    pub models: Vec<ZooEntry>,
}

impl ZooRun {
    pub fn new(mut models: Vec<ZooEntry>, samples: usize, keras_checked: bool, discovered: usize) -> Self {
        models.sort_by(|a, b| a.model.cmp(&b.model));
        let all_passed = models.iter().all(|e| e.all_checks_passed(keras_checked));
        ZooRun { all_passed, samples, keras_checked, discovered, shard: None, models }
    }
}

/// Writes zoo.json and zoo.md to `dir`, and JUnit XML to `junit` if given.
pub(super) fn write(run: &ZooRun, dir: &Path, junit: Option<&Path>) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating '{}'", dir.display()))?;
    let write = |path: PathBuf, text: String| {
        crate::atomic::replace(&path, text.as_bytes()).with_context(|| format!("writing '{}'", path.display()))
    };
    write(dir.join("zoo.json"), serde_json::to_string_pretty(run)?)?;
    write(dir.join("zoo.md"), markdown(run))?;
    write(dir.join("zoo.html"), html(run, dir))?;
    if let Some(junit) = junit {
        if let Some(folder) = junit.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).with_context(|| format!("creating '{}'", folder.display()))?;
        }
        write(junit.to_path_buf(), junit_xml(run))?;
    }
    Ok(())
}

const SUMMARY_HEADER: [&str; 14] = [
    "model",
    "format",
    "MiB",
    "layers",
    "params",
    "verify",
    "max abs err",
    "max rel err",
    "max abs output",
    "tf-keras",
    "Keras 3",
    "wall s",
    "peak RSS MiB",
    "failure",
];

/// One model's row of the summary table, as plain text (`FAIL` marks a failed check).
fn summary_row(e: &ZooEntry, keras_checked: bool) -> Vec<String> {
    let loader = |name: &str| {
        e.keras_check
            .iter()
            .find(|k| k.0 == name)
            .map(|k| if k.1 { format!("ok {:.1e}", k.2.unwrap_or(0.0)) } else { "FAIL".into() })
            .unwrap_or_else(|| "-".into())
    };
    let num = |v: Option<f64>| v.map(|v| format!("{v:.2e}")).unwrap_or_else(|| "-".into());
    let count = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    vec![
        e.model.clone(),
        e.format.clone(),
        format!("{:.1}", e.file_mib),
        count(e.layers),
        count(e.parameters),
        if e.passed { "pass" } else { "FAIL" }.into(),
        num(e.max_abs_err),
        num(e.max_rel_err),
        num(e.max_abs_output),
        loader("tf_keras"),
        loader("keras3"),
        format!("{:.1}", e.wall_s),
        e.peak_rss_mib.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
        e.failure_reason(keras_checked).unwrap_or_default(),
    ]
}

/// The line under the title: how many passed, on what data, which checks ran.
fn headline(run: &ZooRun) -> String {
    let passed = run.models.iter().filter(|e| e.passed).count();
    let shard = run.shard.map(|s| format!(" (shard {s} of {} models)", run.discovered)).unwrap_or_default();
    format!(
        "{passed} of {} models verified{shard} (on each model's own input files, or {} random samples without them); keras-check: {}.",
        run.models.len(),
        run.samples,
        if run.keras_checked { "tf-keras 2.21 and Keras 3.15 loads" } else { "not run" }
    )
}

fn markdown(run: &ZooRun) -> String {
    let mut md = format!("# tf2h5 zoo\n\n{}\n\n", headline(run));
    let _ = writeln!(md, "| {} |\n|{}", SUMMARY_HEADER.join(" | "), "---|".repeat(SUMMARY_HEADER.len()));
    for e in &run.models {
        let cells: Vec<String> = summary_row(e, run.keras_checked)
            .into_iter()
            .map(|cell| if cell == "FAIL" { "**FAIL**".into() } else { cell.replace('|', "\\|") })
            .collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(md, "\nStage times (ms) per model are in `zoo.json`; per-model reports in this folder.");
    md
}

/// zoo.html: the summary table, then each model's own report (read from its `.json` and
/// `.layers.svg` in `dir`), or the reason it has none.
fn html(run: &ZooRun, dir: &Path) -> String {
    let mut body = format!("<h1>tf2h5 zoo</h1>\n<p>{}</p>\n", html::escape(&headline(run)));
    let rows: Vec<Vec<String>> = run
        .models
        .iter()
        .map(|e| {
            let mut cells: Vec<String> = summary_row(e, run.keras_checked)
                .into_iter()
                .map(|cell| if cell == "FAIL" { html::verdict(false) } else { html::escape(&cell) })
                .collect();
            cells[0] = format!("<a href=\"#{}\">{}</a>", html::escape(&file_stem(&e.model)), cells[0]);
            if e.passed {
                cells[5] = html::verdict(true);
            }
            cells
        })
        .collect();
    body.push_str(&html::table(&SUMMARY_HEADER, &rows));
    body.push_str("<h2>Models</h2>\n");
    for e in &run.models {
        let stem = file_stem(&e.model);
        let report = std::fs::read_to_string(dir.join(format!("{stem}.json")))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        let plot = std::fs::read_to_string(dir.join(format!("{stem}.layers.svg"))).ok();
        let details = match &report {
            Some(report) => html::verify_section(report, plot.as_deref()),
            None => format!(
                "<p>{}</p>\n",
                html::escape(&e.failure_reason(run.keras_checked).unwrap_or_else(|| "no report".into()))
            ),
        };
        let _ = writeln!(
            body,
            "<details id=\"{}\"{}><summary>{} {}</summary>\n{details}</details>",
            html::escape(&stem),
            // Failures open, so what went wrong shows without a click.
            if e.all_checks_passed(run.keras_checked) { "" } else { " open" },
            html::escape(&e.model),
            html::verdict(e.all_checks_passed(run.keras_checked))
        );
    }
    html::page("tf2h5 zoo", &body)
}

/// JUnit XML as CI systems read it: one `testcase` per model (named by its relative path),
/// stage times as properties, a failure carrying the one-line reason.
fn junit_xml(run: &ZooRun) -> String {
    let failures = run.models.iter().filter(|e| !e.all_checks_passed(run.keras_checked)).count();
    let time: f64 = run.models.iter().map(|e| e.wall_s).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!("tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\"", run.models.len());
    let _ = writeln!(xml, "<testsuites name=\"tf2h5 zoo\" {counts}>");
    let _ = writeln!(xml, "  <testsuite name=\"tf2h5 zoo\" {counts}>");
    for e in &run.models {
        let _ = writeln!(
            xml,
            "    <testcase classname=\"tf2h5.zoo\" name=\"{}\" time=\"{:.3}\">",
            html::escape(&e.model),
            e.wall_s
        );
        let mut properties = vec![("format".to_string(), e.format.clone())];
        properties.extend(e.stages_ms.iter().map(|(stage, ms)| (format!("stage ms: {stage}"), format!("{ms:.1}"))));
        if let Some(rss) = e.peak_rss_mib {
            properties.push(("peak RSS MiB".into(), format!("{rss:.0}")));
        }
        if let Some(err) = e.max_abs_err {
            properties.push(("max abs err".into(), format!("{err:.3e}")));
        }
        let _ = writeln!(xml, "      <properties>");
        for (name, value) in properties {
            let _ = writeln!(
                xml,
                "        <property name=\"{}\" value=\"{}\"/>",
                html::escape(&name),
                html::escape(&value)
            );
        }
        let _ = writeln!(xml, "      </properties>");
        if let Some(reason) = e.failure_reason(run.keras_checked) {
            let _ =
                writeln!(xml, "      <failure type=\"{}\" message=\"{}\"/>", e.failure_kind(), html::escape(&reason));
        }
        let _ = writeln!(xml, "    </testcase>");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// `tf2h5 zoo-merge`: reads each shard folder's zoo.json, checks that the shards are one whole
/// run (every shard of the same partition once, no model twice, none missing), copies the
/// per-model reports, and writes the reports of the whole zoo to `out`.
pub fn merge(shard_dirs: &[PathBuf], out: &Path, junit: Option<&Path>) -> Result<bool> {
    anyhow::ensure!(!shard_dirs.is_empty(), "no shard report folders given");
    let mut runs = Vec::new();
    for dir in shard_dirs {
        let path = dir.join("zoo.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading '{}'", path.display()))?;
        let run: ZooRun = serde_json::from_str(&text)
            .with_context(|| format!("'{}' is not the zoo.json of a tf2h5 zoo run", path.display()))?;
        runs.push((dir, run));
    }
    let (first_dir, first) = &runs[0];
    let count = first.shard.map_or(1, |s| s.count);
    let mut seen_shards = vec![false; count];
    for (dir, run) in &runs {
        let same_partition = run.shard.map_or(1, |s| s.count) == count && run.discovered == first.discovered;
        anyhow::ensure!(
            same_partition && run.samples == first.samples && run.keras_checked == first.keras_checked,
            "'{}' and '{}' come from different runs (shard count, models found, samples or keras-check differ)",
            first_dir.display(),
            dir.display()
        );
        let index = run.shard.map_or(1, |s| s.index);
        anyhow::ensure!(!seen_shards[index - 1], "shard {index}/{count} is given twice ('{}')", dir.display());
        seen_shards[index - 1] = true;
    }
    let missing: Vec<String> =
        seen_shards.iter().enumerate().filter(|(_, seen)| !**seen).map(|(i, _)| format!("{}/{count}", i + 1)).collect();
    anyhow::ensure!(missing.is_empty(), "shard(s) {} missing", missing.join(", "));

    std::fs::create_dir_all(out).with_context(|| format!("creating '{}'", out.display()))?;
    let (samples, keras_checked, discovered) = (first.samples, first.keras_checked, first.discovered);
    let mut models = Vec::new();
    for (dir, run) in runs {
        copy_model_reports(dir, out, &run.models)?;
        models.extend(run.models);
    }
    let merged = ZooRun::new(models, samples, keras_checked, discovered);
    if let Some(twice) = merged.models.windows(2).find(|pair| pair[0].model == pair[1].model) {
        anyhow::bail!("model '{}' appears in two shards", twice[0].model);
    }
    anyhow::ensure!(
        merged.models.len() == discovered,
        "the shards hold {} models but the zoo has {discovered}",
        merged.models.len()
    );
    write(&merged, out, junit)?;
    Ok(merged.all_passed)
}

/// Copies each model's own reports (named by its file stem) from a shard folder to `out`.
fn copy_model_reports(dir: &Path, out: &Path, models: &[ZooEntry]) -> Result<()> {
    if dir.canonicalize().ok() == out.canonicalize().ok() {
        return Ok(());
    }
    let stems: std::collections::HashSet<String> = models.iter().map(|e| file_stem(&e.model)).collect();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading '{}'", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let belongs =
            stems.iter().any(|stem| name.strip_prefix(stem.as_str()).is_some_and(|rest| rest.starts_with('.')));
        if path.is_file() && belongs {
            std::fs::copy(&path, out.join(&name)).with_context(|| format!("copying '{}'", path.display()))?;
        }
    }
    Ok(())
}
