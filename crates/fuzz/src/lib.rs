//! Hostile-input, crash and concurrency testing of the `tf2h5` binary, run as a subprocess so
//! that aborts, stack overflows, out-of-memory kills and hangs are observed, not suffered.
//!
//! Three suites, each used by the quick `cargo test` (`crates/cli/tests/hostile.rs`) with
//! small counts and by the `tf2h5-mutate` binary with the full ones (`just fuzz`):
//! - [`campaign`]: seeded mutations of every file of every fixture (`test-models/*/` with a
//!   `meta.json`, whatever its files are) and of the `.h5` files tf2h5 emits for them, each
//!   run checked against the exit-code contract ([`mutate`] has the mutators: byte havoc plus
//!   protobuf-, checkpoint-, `.npy`- and HDF5-aware ones);
//! - [`kill`]: SIGKILLs at random moments of `tf2h5 verify`; the output is always absent, the
//!   old file, or the complete new one;
//! - [`concurrent`]: two processes writing into one folder give what sequential runs give.
//!
//! Flow: nothing depends on this crate; it drives the `cli` binary from outside.
//!
//! ```no_run
//! use std::time::Duration;
//! let limits = tf2h5_fuzz::exec::Limits { timeout: Duration::from_secs(20), memory: 4 << 30 };
//! let config = tf2h5_fuzz::campaign::Config {
//!     binary: "target/release/tf2h5".into(),
//!     fixtures: "test-models".into(),
//!     work: std::env::temp_dir().join("tf2h5-fuzz"),
//!     count: 300,
//!     per_file: 0,
//!     jobs: 2,
//!     seed: 1,
//!     limits,
//!     rss_limit_mib: 1024,
//!     samples: 2,
//!     filter: None,
//!     progress: false,
//! };
//! let summary = tf2h5_fuzz::campaign::run(&config).unwrap();
//! assert!(summary.clean(), "{}", summary.markdown(&config));
//! ```
#![warn(missing_docs)]

pub mod campaign;
pub mod concurrent;
pub mod exec;
pub mod fixtures;
pub mod kill;
pub mod mutate;
pub mod proto;
pub mod rng;
pub mod sstable;
