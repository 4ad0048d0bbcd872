//! The disclosure budget, read from `docs/PRIVACY.md` (compiled in): what each public surface
//! shows and what each scenario step discloses. The API serves it (`GET /api/privacy`), each
//! public step carries its row, and the dashboard renders both, so the dashboard says what the
//! document says.

use std::sync::OnceLock;

use serde::Serialize;
use utoipa::ToSchema;

/// The document, as shipped.
const PRIVACY_MD: &str = include_str!("../../../docs/PRIVACY.md");

/// One row of a disclosure table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Disclosure {
    /// The surface (e.g. `requestCollateral` calldata) or the step-name prefix it covers.
    pub what: String,
    /// What anyone sees there.
    pub public: String,
    /// What an observer derives from it with the public supply and prices.
    pub derivable: String,
    /// The verdict (surfaces) or what stays private (steps).
    pub private: String,
}

/// The budget: surfaces and steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Budget {
    /// One row per public surface (calldata, logs, storage, API, SSE, rows, logs by level...).
    pub surfaces: Vec<Disclosure>,
    /// One row per scenario step (matched by name prefix).
    pub steps: Vec<Disclosure>,
}

/// The rows of the first markdown table after the heading `heading` (4 columns, header and
/// separator skipped), backticks kept.
fn table(md: &str, heading: &str) -> Vec<Disclosure> {
    let Some(at) = md.find(heading) else { return Vec::new() };
    md[at..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| {
            let cells: Vec<String> =
                l.trim().trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect();
            match cells.as_slice() {
                [what, public, derivable, private] => Some(Disclosure {
                    what: what.trim_matches('`').to_string(),
                    public: public.clone(),
                    derivable: derivable.clone(),
                    private: private.clone(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The budget of `docs/PRIVACY.md` (parsed once).
pub fn budget() -> &'static Budget {
    static BUDGET: OnceLock<Budget> = OnceLock::new();
    BUDGET.get_or_init(|| Budget {
        surfaces: table(PRIVACY_MD, "## Surfaces"),
        steps: table(PRIVACY_MD, "## Per step"),
    })
}

/// The row for a step named `name`: the longest step prefix that matches (`requestCollateral`
/// covers `requestCollateral (attempt 2)`).
pub fn for_step(name: &str) -> Option<&'static Disclosure> {
    budget().steps.iter().filter(|d| name.starts_with(d.what.as_str())).max_by_key(|d| d.what.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_both_tables() {
        let b = budget();
        assert!(b.surfaces.len() >= 10, "{:?}", b.surfaces);
        assert!(b.steps.len() >= 10, "{:?}", b.steps);
        assert!(for_step("requestCollateral (attempt 2)").is_some());
        assert!(for_step("direct swap into ReserveVault").unwrap().derivable.contains("bound"));
        assert!(for_step("no such step").is_none());
    }
}
