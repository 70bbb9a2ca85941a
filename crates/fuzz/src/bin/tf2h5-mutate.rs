//! `tf2h5-mutate`: the full hostile-input run. Mutation campaign over every fixture file and
//! emitted `.h5`, the SIGKILL test and the concurrency test; writes `fuzz.json` and `fuzz.md`
//! to the report folder and exits 1 if any run broke the contract.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tf2h5_fuzz::{campaign, concurrent, exec::Limits, kill};

/// Mutation, kill and concurrency testing of the tf2h5 binary.
#[derive(Parser, Debug)]
#[command(name = "tf2h5-mutate")]
struct Args {
    /// The tf2h5 binary (default: `tf2h5` next to this program).
    #[arg(long)]
    tf2h5: Option<PathBuf>,
    /// Fixture root: every subfolder with a meta.json is used.
    #[arg(long, default_value = "test-models")]
    fixtures: PathBuf,
    /// Scratch folder; failing trials are kept in WORK/failures/.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Total mutation trials (at least --per-file for every mutated file).
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Minimum trials per mutated file.
    #[arg(long, default_value_t = 0)]
    per_file: usize,
    /// Runs in parallel.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Base seed of the mutations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time bound of one run, seconds.
    #[arg(long, default_value_t = 20.0)]
    timeout: f64,
    /// Address-space bound of one run, MiB.
    #[arg(long, default_value_t = 4096)]
    memory_mib: u64,
    /// Peak RSS (MiB) over which a run counts as a memory hog.
    #[arg(long, default_value_t = 1024)]
    rss_limit_mib: u64,
    /// --samples of the verify runs.
    #[arg(long, default_value_t = 2)]
    samples: usize,
    /// Only mutate files whose label (`fixture/path`) contains this.
    #[arg(long)]
    filter: Option<String>,
    /// SIGKILLs in the kill test (0 to skip it).
    #[arg(long, default_value_t = 100)]
    kills: usize,
    /// Model for the kill test (default: the inception_block fixture).
    #[arg(long)]
    kill_model: Option<PathBuf>,
    /// Rounds of the concurrency test (0 to skip it).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Folder for fuzz.json and fuzz.md.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tf2h5-mutate: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<bool, String> {
    let binary = match args.tf2h5 {
        Some(b) => b,
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("tf2h5"),
    };
    let binary = binary
        .canonicalize()
        .map_err(|e| format!("{}: {e} (build it: cargo build --release -p tf2h5)", binary.display()))?;
    let work = args.work.unwrap_or_else(|| std::env::temp_dir().join("tf2h5-fuzz"));
    let fixtures = args.fixtures.canonicalize().map_err(|e| format!("{}: {e}", args.fixtures.display()))?;
    let limits = Limits { timeout: Duration::from_secs_f64(args.timeout), memory: args.memory_mib << 20 };
    let config = campaign::Config {
        binary: binary.clone(),
        fixtures: fixtures.clone(),
        work: work.join("campaign"),
        count: args.count,
        per_file: args.per_file,
        jobs: args.jobs,
        seed: args.seed,
        limits,
        rss_limit_mib: args.rss_limit_mib,
        samples: args.samples,
        filter: args.filter,
        progress: !args.quiet,
    };
    let summary = campaign::run(&config)?;
    let mut clean = summary.clean();
    let mut report = summary.json(&config);
    let mut markdown = summary.markdown(&config);

    if args.kills > 0 {
        let model = args.kill_model.unwrap_or_else(|| fixtures.join("inception_block"));
        let kills =
            kill::run(&binary, &model, &work.join("kill"), args.kills, args.seed, Duration::from_millis(500), limits)?;
        clean &= kills.violations.is_empty();
        report["kill_test"] = kills.json();
        markdown.push_str(&format!(
            "\n## Kill test\n\n{} SIGKILLs at random moments of `tf2h5 verify {}` ({} samples, {} ms per run; every other run \
             replaces an existing output with --force; a third spread each write over 120 ms and were killed inside the output's write): {} left the output \
             absent or untouched, {} left the complete new file ({} of them finished before the kill), {} interrupted the \
             output's write (a temp file was left), {} violations. A final run removed {} stale temp files.\n",
            kills.kills,
            model.display(),
            kills.samples,
            kills.run_time.as_millis(),
            kills.untouched,
            kills.replaced,
            kills.finished_first,
            kills.interrupted_writes,
            kills.violations.len(),
            kills.stale_temps_removed
        ));
        for v in &kills.violations {
            markdown.push_str(&format!("- {v}\n"));
        }
        if !args.quiet {
            eprintln!("kill test: {}", kills.json());
        }
    }
    if args.rounds > 0 {
        let fixture_list = tf2h5_fuzz::fixtures::discover(&fixtures)?;
        let models: Vec<(String, PathBuf)> = fixture_list.iter().map(|f| (f.name.clone(), f.model_path())).collect();
        let conc = concurrent::run(&binary, &models, &work.join("concurrent"), args.rounds, limits)?;
        clean &= conc.violations.is_empty();
        report["concurrency_test"] = conc.json();
        markdown.push_str(&format!(
            "\n## Concurrency test\n\n{} rounds, {} pairs of concurrent runs into one folder (different models; the same output \
             with --force twice; the same absent output without --force, where exactly one run must write it): {} outputs \
             byte-identical to sequential runs; output deterministic across runs: {}; {} violations.\n",
            conc.rounds,
            conc.pairs,
            conc.outputs_identical,
            conc.deterministic,
            conc.violations.len()
        ));
        for v in &conc.violations {
            markdown.push_str(&format!("- {v}\n"));
        }
        if !args.quiet {
            eprintln!("concurrency test: {}", conc.json());
        }
    }
    std::fs::create_dir_all(&args.report_dir).map_err(|e| format!("{}: {e}", args.report_dir.display()))?;
    let json_path = args.report_dir.join("fuzz.json");
    let md_path = args.report_dir.join("fuzz.md");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap_or_default()).map_err(|e| e.to_string())?;
    std::fs::write(&md_path, &markdown).map_err(|e| e.to_string())?;
    let t = &summary.total;
    println!(
        "tried {} | rejected {} | refuted {} | verified {} | inspect ok {} | panics {} | crashes {} | hangs {} | files written {} | memory hogs {} | other violations {}",
        t.tried, t.rejected, t.refuted, t.verified, t.accepted, t.panics, t.crashes, t.hangs, t.files_written, t.memory_hogs, t.violations
    );
    println!(
        "summary: {} and {}{}",
        json_path.display(),
        md_path.display(),
        if summary.failures.is_empty() {
            String::new()
        } else {
            format!("; failing inputs kept in {}", work.join("campaign/failures").display())
        }
    );
    Ok(clean)
}
