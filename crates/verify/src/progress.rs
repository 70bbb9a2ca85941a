//! Progress of one verification on stderr: an indicatif spinner naming the running stage
//! (load, convert, tract prepare, ...), which becomes a bar with an ETA while the batches run
//! through both engines. It is drawn only when the caller asks for it ([`Progress::stderr`])
//! and stderr is a terminal; the default draws nothing, so library callers, tests and `zoo`
//! (which has a bar of its own) are unaffected.

use std::fmt;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

/// Where a verification reports its stages. Clones share one bar.
#[derive(Clone)]
pub struct Progress(ProgressBar);

/// The spinner's line while a stage runs.
const STAGE: &str = "{spinner} {elapsed_precise} verify: {msg}";
/// The line while batches run: how many of them are done, and the ETA.
const BATCHES: &str = "{spinner} {elapsed_precise} verify: {msg} {pos}/{len} batches, ETA {eta} [{wide_bar}]";

impl Progress {
    /// Draws nothing.
    pub fn hidden() -> Self {
        Progress(ProgressBar::hidden())
    }

    /// A spinner on stderr, drawn only when stderr is a terminal (indicatif hides it otherwise).
    pub fn stderr() -> Self {
        // Cleared however the verification ends, an early error included.
        let bar = ProgressBar::new_spinner().with_finish(ProgressFinish::AndClear);
        bar.set_style(style(STAGE));
        if !bar.is_hidden() {
            // Ticks on its own, so the spinner and the clock move during one long stage.
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress(bar)
    }

    /// Stage `name` starts.
    pub(crate) fn stage(&self, name: &str) {
        self.0.set_style(style(STAGE));
        self.0.set_message(name.to_string());
    }

    /// Stage `name` starts: `total` batches through both engines, counted by [`Self::batch_done`].
    pub(crate) fn batches(&self, name: &str, total: usize) {
        self.0.set_message(name.to_string());
        self.0.set_style(style(BATCHES));
        self.0.set_length(total as u64);
        self.0.set_position(0);
        self.0.reset_eta();
    }

    /// One more batch has run.
    pub(crate) fn batch_done(&self) {
        self.0.inc(1);
    }

    /// Removes the line, before the caller prints its summary or error.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::hidden()
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_hidden() { "Progress(hidden)" } else { "Progress(stderr)" })
    }
}

/// `template` as a style; the templates are constants, so the fallback never shows.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}
