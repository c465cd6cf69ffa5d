//! The retention pass: totals are conserved whatever moves between retired and archived.

use super::*;
use crate::state::topology::{AccountNode, ProjectNode};
use carbonaut_model::{Project, ResourceInfo};

fn topology(live: &[(&str, &str)]) -> Topology {
    let mut t = Topology::default();
    for (a, p) in live {
        let account = t
            .accounts
            .entry((*a).into())
            .or_insert_with(|| AccountNode {
                name: (*a).into(),
                first_seen_ms: 0,
                last_seen_ms: 0,
                provider: "d".into(),
                projects: Default::default(),
            });
        account.projects.insert(
            (*p).into(),
            ProjectNode {
                project: Project {
                    id: (*p).into(),
                    name: (*p).into(),
                    labels: vec![],
                },
                first_seen_ms: 0,
                last_seen_ms: 0,
                provider: "d".into(),
                resources: Default::default(),
            },
        );
    }
    t
}

fn retired(a: &str, p: &str, r: &str, joules: f64, at: u64) -> (ResourceId, Retired) {
    (
        ResourceId::new(a, p, r),
        Retired {
            account: a.into(),
            project: p.into(),
            resource: r.into(),
            counters: Counters {
                energy_joules_total: joules,
                emissions_grams_total: joules / 10.0,
                ..Counters::default()
            },
            removed_at_ms: at,
        },
    )
}

fn resource_info(id: &str) -> ResourceInfo {
    ResourceInfo {
        id: id.into(),
        name: id.into(),
        kind: carbonaut_model::ResourceKind::Vm,
        location: Default::default(),
        hardware: Default::default(),
        labels: vec![],
    }
}

fn account_total(d: &Departed, a: &str) -> Totals {
    let mut sum = Totals::default();
    for ((acc, _), t) in d.by_project() {
        if acc == a {
            sum.add(t);
        }
    }
    sum
}

#[test]
fn expiry_moves_energy_without_changing_any_total() {
    let mut d = Departed::default();
    d.retired.extend([
        retired("A", "p1", "r1", 100.0, 0),
        retired("A", "p1", "r2", 50.0, 900),
        retired("A", "gone", "r3", 7.0, 0),
    ]);
    let t = topology(&[("A", "p1")]);
    assert_eq!(account_total(&d, "A").energy_joules(), 157.0);
    let before_p1 = d.by_project()[&("A".to_string(), Some("p1".to_string()))];

    let expiry = d.expire(&t, 1000, 500, 100);
    assert_eq!(
        expiry.expired.len(),
        2,
        "r1 and r3 are older than the window; r2 is not"
    );
    d.apply(&expiry);
    assert_eq!(account_total(&d, "A").energy_joules(), 157.0);
    assert_eq!(
        d.by_project()[&("A".to_string(), Some("p1".to_string()))],
        before_p1
    );
    assert_eq!(
        d.archive[&("A".to_string(), None)].energy_joules(),
        7.0,
        "a gone project's sum is the account's"
    );

    // Later the whole project p1 goes too: its sum folds into the account's, still 157 J.
    let expiry = d.expire(&topology(&[]), 5000, 500, 100);
    d.apply(&expiry);
    assert!(d.retired.is_empty());
    assert_eq!(d.archive.len(), 1);
    assert_eq!(account_total(&d, "A").energy_joules(), 157.0);
}

#[test]
fn expiry_goes_in_bounded_steps() {
    let mut d = Departed::default();
    for i in 0..25 {
        d.retired.insert(
            retired("A", "p", &format!("r{i}"), 1.0, 0).0,
            retired("A", "p", &format!("r{i}"), 1.0, 0).1,
        );
    }
    let t = topology(&[("A", "p")]);
    let mut passes = 0;
    loop {
        let expiry = d.expire(&t, 10, 1, 10);
        if expiry.is_empty() {
            break;
        }
        assert!(expiry.expired.len() <= 10);
        d.apply(&expiry);
        passes += 1;
        assert_eq!(account_total(&d, "A").energy_joules(), 25.0);
    }
    assert_eq!(passes, 3);
}

/// A seeded xorshift generator: repeatable cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Random add / remove / reappear sequences over two projects, with energy counted on live
/// resources, retention passes and store round trips (restarts) in between: the account total
/// (live counters plus departed) always equals the energy ever counted, and never goes down.
#[test]
fn account_total_is_all_energy_ever_counted_whatever_the_churn() {
    use crate::state::topology::{Discovered, diff_account};
    use crate::state::{LoadReport, StateStore};

    for case in 0..20u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (case + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = StateStore::open(dir.path()).expect("open");
        let mut node: Option<AccountNode> = None;
        let mut counters: HashMap<ResourceId, Counters> = HashMap::new();
        let mut departed = Departed::default();
        let mut counted = 0.0_f64;
        let mut served_before = Totals::default();
        let universe = ["r0", "r1", "r2", "r3", "r4", "r5"];
        let retention = 1 + rng.below(5);
        for step in 0..60u64 {
            // Which projects and resources exist at this step.
            let mut projects = Vec::new();
            for p in ["p", "q"] {
                if rng.below(5) == 0 {
                    continue; // the whole project is gone this step
                }
                let present: Vec<ResourceInfo> = universe
                    .iter()
                    .filter(|_| rng.below(3) != 0)
                    .map(|r| resource_info(r))
                    .collect();
                projects.push((
                    Project {
                        id: p.into(),
                        name: p.into(),
                        labels: vec![],
                    },
                    Some(present),
                ));
            }
            let sync = diff_account("A", "d", node.as_ref(), Discovered { projects }, step);
            let moves = departed.plan_sync(&sync, &counters, step);
            store
                .apply_sync(
                    &sync,
                    &moves.0,
                    &moves.1,
                    Departed::counters_after(&sync, &moves, &counters),
                )
                .expect("store sync");
            departed.apply_sync(moves, &mut counters);
            // Energy on every live resource.
            for project in sync.node.projects.values() {
                for r in project.resources.values() {
                    let joules = rng.below(1000) as f64 / 8.0;
                    let c = counters.entry(r.id.clone()).or_default();
                    c.energy_joules_total += joules;
                    counted += joules;
                }
            }
            let live: Vec<(&ResourceId, &Counters)> = counters.iter().collect();
            store.save_counters([("A", live)]).expect("save");
            node = Some(sync.node);
            let mut topology = Topology::default();
            if let Some(n) = &node {
                topology.accounts.insert("A".into(), n.clone());
            }
            let expiry = departed.expire(&topology, step, retention, 1 + rng.below(3) as usize);
            store.apply_expiry(&expiry).expect("store expiry");
            departed.apply(&expiry);

            if rng.below(7) == 0 {
                // A restart: everything comes back from the store.
                drop(store);
                store = StateStore::reopen(dir.path()).expect("reopen");
                let mut report = LoadReport::default();
                let (loaded, _) = store.load_topology().expect("topology");
                node = loaded.accounts.get("A").cloned();
                counters = store.load_counters(&mut report).expect("counters");
                departed = store.load_departed(&mut report).expect("departed");
                assert_eq!(report.quarantined, 0);
            }
            // What render serves: live counters and departed totals, summed exactly.
            let mut served = account_total(&departed, "A");
            for c in counters.values() {
                served.add(Totals::of(c));
            }
            assert!(
                (served.energy_joules() - counted).abs() <= 1e-3 + 1e-9 * counted,
                "case {case} step {step}: served {} J, counted {counted} J",
                served.energy_joules()
            );
            assert!(
                served.energy_microjoules >= served_before.energy_microjoules,
                "case {case} step {step}: the total went down"
            );
            served_before = served;
        }
    }
}
