//! `tf2h5 zoo` on a folder of mixed raw models, whole and in shards, and `tf2h5 zoo-merge`:
//! the merged reports must equal the single run's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models").join(case)
}

fn tf2h5(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tf2h5")).args(args).current_dir(cwd).output().expect("tf2h5 runs")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Raw models in sub-folders, a SavedModel, a meta.json fixture, a junk model and a text file.
fn mixed_zoo(root: &Path) -> PathBuf {
    let zoo = root.join("zoo");
    std::fs::create_dir_all(zoo.join("tf")).unwrap();
    std::fs::create_dir_all(zoo.join("onnx")).unwrap();
    std::fs::copy(fixture("linear/frozen.pb"), zoo.join("tf/linear.pb")).unwrap();
    std::fs::copy(fixture("onnx_mlp/model.onnx"), zoo.join("onnx/mlp.onnx")).unwrap();
    copy_tree(&fixture("sm_tf1_simple_save/saved_model"), &zoo.join("saved/tf1"));
    copy_tree(&fixture("linear"), &zoo.join("fixture_linear"));
    std::fs::write(zoo.join("onnx/junk.onnx"), b"this is not a protobuf \xff\xff\xff").unwrap();
    std::fs::write(zoo.join("notes.txt"), b"not a model").unwrap();
    zoo
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Per model: what must not depend on how the run was split (times and memory may).
fn outcomes(zoo_json: &Value) -> Vec<(String, bool, Value, Value, Value)> {
    zoo_json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["model"].as_str().unwrap().to_string();
            (name, m["passed"].as_bool().unwrap(), m["failure"].clone(), m["exit_code"].clone(), m["layers"].clone())
        })
        .collect()
}

/// The JUnit XML without times and properties (they are measured, so they differ run to run).
fn junit_skeleton(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.contains("<propert") && !line.contains("</properties>"))
        .map(|line| match line.find(" time=\"") {
            Some(at) => {
                let end = at + 7 + line[at + 7..].find('"').unwrap() + 1;
                format!("{}{}", &line[..at], &line[end..])
            }
            None => line.to_string(),
        })
        .collect()
}

#[test]
fn shards_plus_merge_equal_one_run_over_a_folder_of_mixed_models() {
    let dir = tempfile::tempdir().unwrap();
    let zoo = mixed_zoo(dir.path());
    let common = ["--samples", "2", "--jobs", "2"];
    let run = |name: &str, extra: &[&str], exit_code: i32| {
        let out_dir = format!("out/{name}");
        let junit = format!("{name}.xml");
        let mut args =
            vec!["zoo", zoo.to_str().unwrap(), "--out-dir", &out_dir, "--report-dir", name, "--junit", &junit];
        args.extend(common);
        args.extend(extra);
        let output = tf2h5(&args, dir.path());
        assert_eq!(output.status.code(), Some(exit_code), "{}", String::from_utf8_lossy(&output.stderr));
        read_json(&dir.path().join(name).join("zoo.json"))
    };
    // The junk model fails (in shard 2), and the run goes on to the end.
    let whole = run("whole", &[], 1);
    let shard1 = run("shard1", &["--shard", "1/2"], 0);
    let shard2 = run("shard2", &["--shard", "2/2"], 1);

    let names: Vec<String> = outcomes(&whole).into_iter().map(|o| o.0).collect();
    assert_eq!(names, ["fixture_linear", "onnx/junk.onnx", "onnx/mlp.onnx", "saved/tf1", "tf/linear.pb"]);
    let passed: Vec<bool> = outcomes(&whole).into_iter().map(|o| o.1).collect();
    assert_eq!(passed, [true, false, true, true, true], "{whole:#}");
    let junk = &whole["models"][1];
    let reason = junk["failure"].as_str().unwrap();
    assert!(reason.contains("junk.onnx") && !reason.contains('\n'), "{reason}");
    assert_eq!(junk["exit_code"], 2);
    assert!(dir.path().join("out/whole/tf__linear.pb.h5").is_file());
    assert!(dir.path().join("whole/tf__linear.pb.json").is_file());

    // The shards are disjoint and together hold every model.
    let mut sharded: Vec<String> = [&shard1, &shard2].iter().flat_map(|s| outcomes(s)).map(|o| o.0).collect();
    assert_eq!(shard1["models"].as_array().unwrap().len(), 3);
    sharded.sort();
    assert_eq!(sharded, names);

    let merge = |args: &[&str]| tf2h5(&[&["zoo-merge"], args].concat(), dir.path());
    let merged = merge(&["--report-dir", "merged", "--junit", "merged.xml", "shard2", "shard1"]);
    assert_eq!(merged.status.code(), Some(1), "{}", String::from_utf8_lossy(&merged.stderr));
    let merged_json = read_json(&dir.path().join("merged/zoo.json"));
    assert_eq!(outcomes(&merged_json), outcomes(&whole));
    assert_eq!(merged_json["shard"], Value::Null);
    assert_eq!(junit_skeleton(&dir.path().join("merged.xml")), junit_skeleton(&dir.path().join("whole.xml")));
    let junit = std::fs::read_to_string(dir.path().join("whole.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 5);
    assert!(junit.contains("<failure type=\"refused\" message=\"") && junit.contains("stage ms: load"), "{junit}");
    let md = |d: &str| std::fs::read_to_string(dir.path().join(d).join("zoo.md")).unwrap();
    assert_eq!(md("merged").lines().count(), md("whole").lines().count());
    assert!(dir.path().join("merged/tf__linear.pb.json").is_file(), "per-model reports are copied");
    let sections = |d: &str| -> Vec<String> {
        let html = std::fs::read_to_string(dir.path().join(d).join("zoo.html")).unwrap();
        html.split("<details id=\"").skip(1).map(|s| s.split('"').next().unwrap().to_string()).collect()
    };
    assert_eq!(sections("merged"), sections("whole"));
    assert_eq!(sections("whole").len(), 5);

    // A merge with a shard missing, or given twice, is refused.
    let missing = merge(&["--report-dir", "partial", "shard1"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("shard(s) 2/2 missing"));
    let twice = merge(&["--report-dir", "partial", "shard1", "shard1", "shard2"]);
    assert!(String::from_utf8_lossy(&twice.stderr).contains("shard 1/2 is given twice"));
}

#[test]
fn zoo_refuses_bad_shards_and_empty_folders() {
    let dir = tempfile::tempdir().unwrap();
    let bad = tf2h5(&["zoo", ".", "--shard", "3/2"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    let empty = tf2h5(&["zoo", ".", "--report-dir", "r"], dir.path());
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no models"));
}

/// Chromium from Debian's package; CI (`.ci/run`) installs it and sets TF2H5_REQUIRE_CHROMIUM,
/// so the test cannot be skipped there.
fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("TF2H5_REQUIRE_CHROMIUM").is_none(),
        "TF2H5_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing"
    );
    eprintln!("skipped: no /usr/bin/chromium (apt-get install chromium)");
    None
}

/// Runs headless Chromium on `page` with `args`; returns stdout.
fn headless(chromium: &Path, profile: &Path, page: &Path, args: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn html_report_opens_from_disk_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let zoo = mixed_zoo(dir.path());
    let output = tf2h5(
        &["zoo", zoo.to_str().unwrap(), "--report-dir", "r", "--out-dir", "o", "--samples", "2", "--layers"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let page = dir.path().join("r/zoo.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch (the SVG namespace is a name, not an address).
    let without_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for remote in ["http:", "https:", "src=", "<link", "<script", "url("] {
        assert!(!without_namespace.contains(remote), "zoo.html refers to something outside it: {remote}");
    }

    let dom = headless(&chromium, &dir.path().join("profile-dom"), &page, &["--dump-dom"]);
    for name in ["tf/linear.pb", "onnx/mlp.onnx", "saved/tf1", "fixture_linear", "onnx/junk.onnx"] {
        assert!(dom.contains(&format!(">{name}<")), "{name} missing from the rendered page");
    }
    assert!(dom.matches("<svg").count() >= 4, "a per-layer plot per verified model");
    assert!(dom.contains("not an ONNX model") && dom.contains("Time and memory per stage"));

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zoo-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot_arg = format!("--screenshot={}", screenshot.display());
    headless(&chromium, &dir.path().join("profile-shot"), &page, &[&shot_arg, "--window-size=1400,1000"]);
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());

    let model_page = dir.path().join("r/tf__linear.pb.html");
    let dom = headless(&chromium, &dir.path().join("profile-model"), &model_page, &["--dump-dom"]);
    assert!(dom.contains("tf2h5 verify: tf__linear.pb") && dom.contains("<svg") && dom.contains("Outputs"));
}
