//! Resident memory of this process (Linux `/proc/self/status`), to report what each stage
//! of the pipeline holds. `None` where the file is unreadable (other systems).

/// Current resident set size (`VmRSS`), in MiB.
pub fn resident_mib() -> Option<f64> {
    status_field_mib("VmRSS:")
}

/// Peak resident set size since the start or the last [`reset_peak`] (`VmHWM`), in MiB.
pub fn peak_resident_mib() -> Option<f64> {
    status_field_mib("VmHWM:")
}

/// Restarts the peak measurement at the current resident size (Linux `clear_refs` 5), so
/// that each stage of the pipeline can report its own peak. Memory that earlier stages freed
/// but the allocator kept is returned first (glibc keeps freed blocks below its adaptive mmap
/// threshold), so it is not counted again. Best effort.
pub fn reset_peak() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_field_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_is_at_least_current() {
        if let (Some(now), Some(peak)) = (super::resident_mib(), super::peak_resident_mib()) {
            assert!(now > 0.0 && peak >= now, "rss {now} peak {peak}");
        }
    }
}
