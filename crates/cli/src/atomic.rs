//! Atomic file replacement: the target is either the complete new file or untouched.
//!
//! Bytes go to a temp file in the target's folder (same file system, so `rename` is atomic),
//! are fsynced, then renamed over the target, and the folder is fsynced so the rename itself
//! survives a crash. A crash before the rename leaves only a clearly named
//! `.<name>.tf2h5-<pid>.tmp`, never a partial target.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to `target` atomically.
pub fn write(target: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path(target);
    let result = write_temp_and_rename(&temp, target, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.tf2h5-{}.tmp", std::process::id()))
}

fn write_temp_and_rename(temp: &Path, target: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(temp).with_context(|| format!("creating '{}'", temp.display()))?;
    file.write_all(bytes).with_context(|| format!("writing '{}'", temp.display()))?;
    file.sync_all().with_context(|| format!("syncing '{}'", temp.display()))?;
    drop(file);
    fs::rename(temp, target).with_context(|| format!("renaming '{}' to '{}'", temp.display(), target.display()))?;
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Directory fsync makes the rename durable; not all file systems allow it, which is harmless.
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.h5");
        fs::write(&target, b"old").unwrap();
        write(&target, b"new contents").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new contents");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_leaves_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing-folder").join("m.h5");
        assert!(write(&target, b"x").is_err());
        assert!(!target.exists());
    }
}
