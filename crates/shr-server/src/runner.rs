//! The scenario seam: something that runs a named scenario and reports each step as it ends.

use std::time::Duration;

use shr_agent::{ScenarioReport, Step};

/// Runs named scenarios. `run` is blocking: the server calls it on a blocking thread, one run
/// at a time, and streams each step handed to `on_step` to its SSE clients.
///
/// The binary's implementation drives `shr-agent`'s scenarios on a fresh embedded chain seeded
/// from the real data; [`ScriptedRunner`] replays fixed steps in memory.
pub trait ScenarioRunner: Send + Sync + 'static {
    /// The scenario names, in the order a headless run takes them.
    fn names(&self) -> Vec<String>;

    /// Runs `name` to the end, calling `on_step` with each step as it completes.
    ///
    /// # Errors
    /// Whatever stops the scenario (chain, contract, enclave errors); an unexpected *outcome*
    /// is not an error but [`ScenarioReport::as_expected`] = `false`.
    fn run(
        &self,
        name: &str,
        on_step: &(dyn Fn(&Step) + Send + Sync),
    ) -> Result<ScenarioReport, Box<dyn std::error::Error + Send + Sync>>;
}

/// An in-memory [`ScenarioRunner`]: replays the steps of fixed reports, pausing `step_delay`
/// between steps. For tests of the server and for load tests; it touches no chain.
#[derive(Debug, Clone)]
pub struct ScriptedRunner {
    reports: Vec<ScenarioReport>,
    step_delay: Duration,
}

impl ScriptedRunner {
    /// A runner that plays back `reports` (one per scenario name).
    pub fn new(reports: Vec<ScenarioReport>, step_delay: Duration) -> Self {
        Self { reports, step_delay }
    }
}

/// A scripted scenario error.
#[derive(Debug, thiserror::Error)]
#[error("scripted runner has no scenario {0:?}")]
struct NoScript(String);

impl ScenarioRunner for ScriptedRunner {
    fn names(&self) -> Vec<String> {
        self.reports.iter().map(|r| r.scenario.clone()).collect()
    }

    fn run(
        &self,
        name: &str,
        on_step: &(dyn Fn(&Step) + Send + Sync),
    ) -> Result<ScenarioReport, Box<dyn std::error::Error + Send + Sync>> {
        let report = self
            .reports
            .iter()
            .find(|r| r.scenario == name)
            .ok_or_else(|| NoScript(name.into()))?;
        for s in &report.steps {
            std::thread::sleep(self.step_delay);
            on_step(s);
        }
        Ok(report.clone())
    }
}
