//! Reading untrusted `.h5` files in a child process.
//!
//! tf2h5's own reader ([`tf2h5_keras::h5`]) checks everything it sees from Rust (shapes
//! against the file size, types, missing groups), but the HDF5 C library underneath is not
//! hardened against corrupt files: the mutation suite (`crates/fuzz`) made HDF5 1.10 segfault
//! and loop forever inside its global-heap code while reading variable-length string
//! attributes, before any of our checks can run. No check outside the library can rule that
//! out, so `tf2h5 inspect FILE.h5` contains it: tf2h5 re-runs itself as
//! `tf2h5 __read-h5 FILE.h5` and waits with a deadline. A crash or a hang of the child becomes
//! the usual one-line error naming the file (exit 2). The child's address space is bounded
//! (1 GiB + 6 × the file size), so a corrupt size cannot make the library take the machine's
//! memory either.
//!
//! `tf2h5 verify old.h5` reads its source the same way (`tf2h5 __read-h5-raw FILE`: the child
//! passes the file's raw contents to the parent); `verify` reads back only the bytes it has
//! just written, in process.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The hidden first argument that makes tf2h5 the reading child that describes the file.
const DESCRIBE_ARG: &str = "__read-h5";
/// The hidden first argument that makes tf2h5 the reading child that passes the file's raw
/// contents (`RawKerasFile::to_bytes`) to its parent, for `tf2h5 verify old.h5`.
const RAW_ARG: &str = "__read-h5-raw";

/// How long reading `bytes` of HDF5 may take: generous (HDF5 reads hundreds of MB/s), but
/// finite, because corrupt files can make the library loop.
fn deadline(bytes: u64) -> Duration {
    Duration::from_secs(10 + bytes / (20 << 20))
}

/// In the child (`tf2h5 __read-h5 FILE`, or `__read-h5-raw FILE`): reads the file, prints its
/// description or its raw contents (exit 0), or the error (exit 2). `None` when this process
/// is not the child.
pub fn child_entry() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let mode = args.next()?;
    let raw = if mode == RAW_ARG {
        true
    } else if mode == DESCRIBE_ARG {
        false
    } else {
        return None;
    };
    let path = PathBuf::from(args.next()?);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    limit_memory(size);
    // Also stop on our own if the parent is gone (its deadline no longer applies): abort, not
    // exit, because exit's HDF5 clean-up could wait on the library's own lock.
    let limit = deadline(size) + Duration::from_secs(2);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        std::process::abort();
    });
    // The Rust bindings panic on some corrupt files too (e.g. "capacity overflow" while
    // iterating attributes): caught here, quietly, and told apart from panics in our code.
    let last_panic: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let record = Arc::clone(&last_panic);
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message =
            payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
        let file = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        if let Ok(mut slot) = record.lock() {
            *slot = Some((message.unwrap_or_default(), file));
        }
    }));
    let read = || -> Result<Vec<u8>, tf2h5_keras::KerasError> {
        if raw {
            let bytes = std::fs::read(&path)
                .map_err(|e| tf2h5_keras::KerasError::Invalid(format!("cannot read '{}': {e}", path.display())))?;
            Ok(tf2h5_keras::h5::read_raw_from_bytes(&bytes)?.to_bytes())
        } else {
            Ok(crate::inspect::describe_keras(&tf2h5_keras::h5::read_file(&path)?).into_bytes())
        }
    };
    match std::panic::catch_unwind(read) {
        Ok(Ok(bytes)) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(&bytes).and_then(|()| stdout.flush()).is_err() {
                return Some(ExitCode::from(2));
            }
            Some(ExitCode::SUCCESS)
        }
        Ok(Err(error)) => {
            eprint!("{}", crate::one_line(&error.to_string()));
            Some(ExitCode::from(2))
        }
        Err(_) => {
            let (message, file) = last_panic.lock().ok().and_then(|mut p| p.take()).unwrap_or_default();
            if file.contains("hdf5") {
                eprint!("the HDF5 library failed reading the file ({message}); it is corrupt");
                Some(ExitCode::from(2))
            } else {
                eprint!("{message} at {file}");
                Some(ExitCode::from(101))
            }
        }
    }
}

/// Bounds the child's address space: the library allocates from sizes read in the file, and
/// the mutation suite saw it reach 2 GB on a 33 KB file. Past the bound its allocations fail,
/// which it reports as errors (or crashes, which the parent contains).
fn limit_memory(file_size: u64) {
    #[cfg(unix)]
    {
        let bound = (1u64 << 30).saturating_add(file_size.saturating_mul(6));
        let limit = libc::rlimit { rlim_cur: bound as libc::rlim_t, rlim_max: bound as libc::rlim_t };
        // SAFETY: plain syscall with a valid pointer; failure leaves the process unbounded.
        unsafe {
            libc::setrlimit(libc::RLIMIT_AS, &limit);
        }
    }
    #[cfg(not(unix))]
    let _ = file_size;
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Runs `command` with stdout and stderr piped (drained on threads, so a chatty child cannot
/// block on a full pipe) and waits for it; after `limit` the child is killed and `None` is
/// returned, so a hang can never stall the caller.
pub(crate) fn output_within(mut command: Command, limit: Duration) -> Result<Option<Output>> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout = drain(child.stdout.take().context("no stdout pipe")?);
    let stderr = drain(child.stderr.take().context("no stderr pipe")?);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ok(Some(Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }))
}

/// Describes the Keras `.h5` file at `path`, reading it in a child process.
pub fn describe_h5(path: &Path) -> Result<String> {
    Ok(String::from_utf8_lossy(&run_reader(path, DESCRIBE_ARG)?).into_owned())
}

/// The raw contents of the Keras `.h5` file at `path` (config text, versions, weights), read
/// in a child process.
pub fn read_raw_h5(path: &Path) -> Result<tf2h5_keras::raw::RawKerasFile> {
    let bytes = run_reader(path, RAW_ARG)?;
    tf2h5_keras::raw::RawKerasFile::from_bytes(&bytes).with_context(|| path.display().to_string())
}

/// Runs `tf2h5 MODE FILE` with a deadline and returns its stdout, or the one-line error.
fn run_reader(path: &Path, mode: &str) -> Result<Vec<u8>> {
    let name = path.display();
    let size = std::fs::metadata(path).with_context(|| format!("{name}: cannot read the file"))?.len();
    let exe = std::env::current_exe().context("cannot locate the tf2h5 executable")?;
    let mut command = Command::new(exe);
    command.arg(mode).arg(path).stdin(Stdio::null());
    let limit = deadline(size);
    let Some(output) = output_within(command, limit).context("cannot start the .h5 reader process")? else {
        bail!(
            "{name}: reading the file did not finish in {} s; it is corrupt (the HDF5 library loops on some corrupt files)",
            limit.as_secs()
        );
    };
    let status = output.status;
    let stdout = output.stdout;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match status.code() {
        Some(0) => Ok(stdout),
        // A panic in the reader is a bug of ours, not a corrupt file: say so.
        Some(101) => bail!(
            "{name}: internal error while reading the file ({}; a bug: please report it with the file)",
            crate::one_line(&stderr)
        ),
        Some(2) => {
            let message = crate::one_line(&stderr);
            if message.contains(&name.to_string()) {
                bail!("{message}")
            }
            bail!("{name}: {message}")
        }
        _ => {
            #[cfg(unix)]
            let how = {
                use std::os::unix::process::ExitStatusExt;
                match status.signal() {
                    Some(11) => "segmentation fault".to_string(),
                    Some(6) => "abort".to_string(),
                    Some(signal) => format!("signal {signal}"),
                    None => format!("exit code {:?}", status.code()),
                }
            };
            #[cfg(not(unix))]
            let how = format!("exit code {:?}", status.code());
            bail!("{name}: the HDF5 library crashed reading the file ({how}); it is corrupt")
        }
    }
}
