//! Running tf2h5 as a subprocess under a time and memory bound, so that aborts, stack
//! overflows, out-of-memory kills and hangs are observed rather than suffered.
//!
//! The child runs in its own process group (a timeout kills everything it started), with
//! `RLIMIT_AS` as the memory bound (an unbounded allocation aborts instead of swapping the
//! machine to death) and core dumps off. It is reaped with `wait4`, which also gives its
//! peak resident memory.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bounds of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock bound; the process group is SIGKILLed past it.
    pub timeout: Duration,
    /// Address-space bound in bytes (`RLIMIT_AS`); 0 for none.
    pub memory: u64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Exited with this code.
    Exit(i32),
    /// Killed by this signal (not ours).
    Signal(i32),
    /// Still running at the time bound; killed.
    TimedOut,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Run {
    /// How it ended.
    pub end: End,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error (lossy UTF-8).
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
    /// Peak resident set, in KiB.
    pub max_rss_kib: u64,
}

/// A command line to run.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Invocation {
    /// The command line as one shell-quoted string, for reproduction.
    pub fn shell(&self) -> String {
        let quote = |s: &str| {
            if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c)) {
                s.to_string()
            } else {
                format!("'{}'", s.replace('\'', "'\\''"))
            }
        };
        let mut parts: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        parts.push(quote(&self.program.to_string_lossy()));
        parts.extend(self.args.iter().map(|a| quote(a)));
        format!("cd {} && {}", quote(&self.cwd.to_string_lossy()), parts.join(" "))
    }

    /// Starts the process in its own process group, with the memory bound; output goes to
    /// `stdout`/`stderr` files (or nowhere).
    pub fn spawn(&self, limits: Limits, output: Option<(&Path, &Path)>) -> std::io::Result<u32> {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(&self.cwd).stdin(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        match output {
            Some((out, err)) => {
                command.stdout(File::create(out)?).stderr(File::create(err)?);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let memory = limits.memory;
        // SAFETY: only async-signal-safe calls (setpgid, setrlimit) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                if memory > 0 {
                    let bound = libc::rlimit { rlim_cur: memory as libc::rlim_t, rlim_max: memory as libc::rlim_t };
                    if libc::setrlimit(libc::RLIMIT_AS, &bound) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        // The Child handle is dropped without waiting: the caller reaps the pid with `reap`.
        Ok(command.spawn()?.id())
    }

    /// Runs to completion (or the time bound) and collects the output.
    pub fn run(&self, limits: Limits, log_dir: &Path) -> std::io::Result<Run> {
        std::fs::create_dir_all(log_dir)?;
        let (out, err) = (log_dir.join("stdout.txt"), log_dir.join("stderr.txt"));
        let start = Instant::now();
        let pid = self.spawn(limits, Some((&out, &err)))?;
        let (end, max_rss_kib) = reap(pid, Some(start + limits.timeout));
        let read = |p: &Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        Ok(Run { end, stdout: read(&out), stderr: read(&err), elapsed: start.elapsed(), max_rss_kib })
    }
}

/// Waits for `pid` (polling, so a deadline can be enforced); past the deadline the whole
/// process group is SIGKILLed. Returns how it ended and its peak RSS in KiB.
pub fn reap(pid: u32, deadline: Option<Instant>) -> (End, u64) {
    let pid = pid as libc::pid_t;
    let mut pause = Duration::from_micros(500);
    loop {
        let mut status = 0;
        // SAFETY: plain syscall on our own child; `usage` is a valid out-pointer.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            let end = if libc::WIFEXITED(status) {
                End::Exit(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                End::Signal(libc::WTERMSIG(status))
            } else {
                End::Exit(-1)
            };
            return (end, usage.ru_maxrss.max(0) as u64);
        }
        if done < 0 {
            return (End::Exit(-1), 0);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            kill_group(pid as u32);
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            return (End::TimedOut, usage.ru_maxrss.max(0) as u64);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// SIGKILLs the process group led by `pid`. Call it only before reaping `pid`: an unreaped
/// (possibly zombie) leader keeps the group id from being reused.
pub fn kill_group(pid: u32) {
    // SAFETY: plain syscall; the group was created by `spawn` for this child.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// A signal's name, for reports.
pub fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGKILL => "SIGKILL".into(),
        other => format!("signal {other}"),
    }
}
