//! Progress bars (indicatif, on stderr) and the one-line outcome of each stage x dataset.

use std::time::Duration;

use amt_stages::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::{Outcome, ReportEntry, Reporter};

pub struct TerminalReporter {
    multi: MultiProgress,
    quiet: bool,
}

impl TerminalReporter {
    pub fn new(quiet: bool) -> Self {
        let multi = MultiProgress::new();
        if quiet {
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        TerminalReporter { multi, quiet }
    }
}

struct Bar {
    bar: ProgressBar,
    prefix: String,
}

impl Progress for Bar {
    fn begin(&self, message: &str, bytes: bool) {
        let template = if bytes {
            "{prefix} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{prefix} {msg} [{bar:30}] {pos}/{len} eta {eta}"
        };
        self.bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        self.bar.set_prefix(self.prefix.clone());
        self.bar.set_message(message.to_string());
        self.bar.enable_steady_tick(Duration::from_millis(200));
    }

    fn update(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Reporter for TerminalReporter {
    fn progress(&self, stage: &str, dataset: &str) -> Box<dyn Progress + '_> {
        let bar = self.multi.add(ProgressBar::no_length());
        Box::new(Bar {
            bar,
            prefix: format!("{stage} {dataset}"),
        })
    }

    fn finished(&self, e: &ReportEntry) {
        // Quiet silences progress and outcomes, never failures.
        if self.quiet && e.outcome != Outcome::Failed {
            return;
        }
        let line = outcome_line(e);
        if self.multi.is_hidden() {
            // Not a terminal (a log file, CI): plain lines.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{line}");
            }
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// The line a finished (stage, dataset) gets on stderr.
pub fn outcome_line(e: &ReportEntry) -> String {
    match e.outcome {
        Outcome::Fresh => format!("{} {}: fresh, skipping", e.stage, e.dataset),
        Outcome::Cached => format!("{} {}: cached, reusing", e.stage, e.dataset),
        Outcome::Ran => format!("{} {}: built in {:.2} s", e.stage, e.dataset, e.seconds),
        Outcome::Failed => format!(
            "{} {}: FAILED: {}",
            e.stage,
            e.dataset,
            e.error.as_deref().unwrap_or("")
        ),
        Outcome::Skipped => format!("{} {}: skipped (upstream failed)", e.stage, e.dataset),
        Outcome::Interrupted => format!("{} {}: interrupted", e.stage, e.dataset),
    }
}
