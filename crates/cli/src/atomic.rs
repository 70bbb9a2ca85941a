//! Atomic file writes: the target is either the complete new file or untouched.
//!
//! Bytes go to a temp file in the target's folder (same file system, so the final step is
//! atomic), are fsynced, and then the temp file becomes the target:
//! - [`replace`]: `rename` over the target (`--force`, and the reports);
//! - [`create_new`]: a hard link to the target's name, which fails if the name exists, so
//!   two runs racing for one new output behave as if sequential: one writes it, the other
//!   refuses (on file systems without hard links, an existence check then `rename`).
//!
//! The folder is fsynced so the new name survives a crash. A process killed before that
//! step leaves only a clearly named `.<name>.tf2h5-<pid>.tmp`, never a partial target.
//!
//! **Stale temp files.** Before writing `<name>`, tf2h5 deletes the `.<name>.tf2h5-<pid>.tmp`
//! files in the target's folder whose process `<pid>` is no longer running and that were last
//! modified more than [`STALE_AFTER`] ago: the leftovers of killed runs. The age condition
//! protects a writer in another PID namespace (a container sharing the folder), whose live
//! process this one cannot see. Only temp files of the same target are touched, and only on
//! Linux (where `/proc` tells whether a process runs); elsewhere they are left alone.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Age after which the temp file of a dead process is removed.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Test hook: `TF2H5_TEST_WRITE_DELAY_MS=N` spreads the temp-file write over about N ms, so
/// that the kill test (`crates/fuzz`) can land SIGKILLs inside the write. Never set otherwise.
const WRITE_DELAY_VAR: &str = "TF2H5_TEST_WRITE_DELAY_MS";

/// Writes `bytes` to `target` atomically, replacing any existing file.
pub fn replace(target: &Path, bytes: &[u8]) -> Result<()> {
    write(target, bytes, true)
}

/// Writes `bytes` to `target` atomically; fails, leaving it untouched, if `target` exists
/// (even if it appeared while this process was working).
pub fn create_new(target: &Path, bytes: &[u8]) -> Result<()> {
    write(target, bytes, false)
}

fn write(target: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    remove_stale_temps(target);
    let temp = temp_path(target);
    let result = write_temp(&temp, bytes).and_then(|()| commit(&temp, target, overwrite));
    // After a rename the temp name is gone; after a link (or a failure) it must go.
    let _ = fs::remove_file(&temp);
    result
}

fn temp_prefix(target: &Path) -> String {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}.tf2h5-")
}

fn temp_path(target: &Path) -> PathBuf {
    target.with_file_name(format!("{}{}.tmp", temp_prefix(target), std::process::id()))
}

fn write_temp(temp: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(temp).with_context(|| format!("creating '{}'", temp.display()))?;
    let delay = std::env::var(WRITE_DELAY_VAR).ok().and_then(|v| v.parse::<u64>().ok());
    match delay {
        Some(ms) => {
            let chunks = 8;
            for chunk in bytes.chunks(bytes.len().div_ceil(chunks).max(1)) {
                file.write_all(chunk).with_context(|| format!("writing '{}'", temp.display()))?;
                std::thread::sleep(Duration::from_millis(ms / chunks as u64));
            }
        }
        None => file.write_all(bytes).with_context(|| format!("writing '{}'", temp.display()))?,
    }
    file.sync_all().with_context(|| format!("syncing '{}'", temp.display()))
}

fn commit(temp: &Path, target: &Path, overwrite: bool) -> Result<()> {
    if overwrite {
        fs::rename(temp, target).with_context(|| format!("renaming '{}' to '{}'", temp.display(), target.display()))?;
    } else {
        match fs::hard_link(temp, target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("'{}' appeared while tf2h5 was verifying; pass --force to replace it", target.display())
            }
            // No hard links on this file system: check, then rename (a small race remains).
            Err(_) => {
                if target.exists() {
                    bail!("'{}' appeared while tf2h5 was verifying; pass --force to replace it", target.display())
                }
                fs::rename(temp, target)
                    .with_context(|| format!("renaming '{}' to '{}'", temp.display(), target.display()))?;
            }
        }
    }
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Directory fsync makes the new name durable; not all file systems allow it, which is harmless.
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Whether process `pid` is running; `None` when this cannot be told.
fn process_running(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        Some(Path::new("/proc").join(pid.to_string()).exists())
    } else {
        None
    }
}

/// Removes the stale temp files of `target` (see the module documentation); best effort.
fn remove_stale_temps(target: &Path) {
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let prefix = temp_prefix(target);
    let Ok(entries) = fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) =
            name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".tmp")).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || process_running(pid) != Some(false) {
            continue;
        }
        let old = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.h5");
        fs::write(&target, b"old").unwrap();
        replace(&target, b"new contents").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new contents");
        assert_eq!(names(dir.path()), ["m.h5"]);
    }

    #[test]
    fn create_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.h5");
        create_new(&target, b"first").unwrap();
        let err = create_new(&target, b"second").unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["m.h5"]);
    }

    #[test]
    fn failure_leaves_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing-folder").join("m.h5");
        assert!(replace(&target, b"x").is_err());
        assert!(!target.exists());
    }

    #[test]
    fn removes_only_old_temps_of_dead_processes_for_the_same_target() {
        if process_running(1).is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.h5");
        // No process has PID u32::MAX - 1 (Linux PIDs stay below 2^22).
        let dead_old = dir.path().join(format!(".m.h5.tf2h5-{}.tmp", u32::MAX - 1));
        let dead_new = dir.path().join(format!(".m.h5.tf2h5-{}.tmp", u32::MAX - 2));
        let alive_old = dir.path().join(".m.h5.tf2h5-1.tmp");
        let other_target = dir.path().join(format!(".n.h5.tf2h5-{}.tmp", u32::MAX - 1));
        for path in [&dead_old, &dead_new, &alive_old, &other_target] {
            fs::write(path, b"partial").unwrap();
        }
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for path in [&dead_old, &alive_old, &other_target] {
            File::options().write(true).open(path).unwrap().set_modified(an_hour_ago).unwrap();
        }
        replace(&target, b"new").unwrap();
        assert!(!dead_old.exists(), "a dead process's old temp file is removed");
        assert!(dead_new.exists(), "a recent one may belong to a writer in another PID namespace");
        assert!(alive_old.exists(), "PID 1 is running");
        assert!(other_target.exists(), "other targets' temp files are not touched");
    }

    #[test]
    fn write_delay_hook_still_writes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("t");
        std::env::set_var(WRITE_DELAY_VAR, "8");
        let result = write_temp(&temp, &[7u8; 1001]);
        std::env::remove_var(WRITE_DELAY_VAR);
        result.unwrap();
        assert_eq!(fs::read(&temp).unwrap(), vec![7u8; 1001]);
    }
}
