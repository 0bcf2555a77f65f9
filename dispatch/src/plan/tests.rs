#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::time::Duration;

use super::construct::regret_insertion;
use super::model::Model;
use super::rng::Rng;
use super::search::Solution;
use super::*;

const C101_HEAD: &str = "C101\r\n\r\nVEHICLE\r\nNUMBER     CAPACITY\r\n  25         200\r\n\r\nCUSTOMER\r\n\
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\r\n \r\n\
    0      40         50          0          0       1236          0   \r\n\
    1      45         68         10        912        967         90   \r\n\
    2      45         70         30        825        870         90   \r\n\
    3      42         66         10         65        146         90   \r\n\
    4      42         68         10        727        782         90   \r\n\
    5      42         65         10         15         67         90   \r\n\r\n";

fn options(objective: Objective, iterations: u64, seed: u64) -> PlanOptions {
    PlanOptions { objective, time_limit: Duration::from_secs(3600), iterations: Some(iterations), seed }
}

/// A clock that never moves: only the iteration budget stops the search.
fn frozen() -> impl Fn() -> Duration {
    || Duration::ZERO
}

/// Solves and checks; every plan a test produces goes through the checker.
#[track_caller]
fn solve_checked(instance: &Instance, options: &PlanOptions) -> DayPlan {
    let plan = solve(instance, options, &frozen());
    if let Err(v) = check(instance, &plan) {
        panic!("infeasible plan {plan:?}: {v}");
    }
    plan
}

/// A random Euclidean instance: `n` visits, `m` identical vehicles at a central depot.
fn random_instance(rng: &mut Rng, n: usize, m: usize, capacity: f64, horizon: f64) -> Instance {
    let mut locations = vec![Location { x: 50.0, y: 50.0 }];
    let mut visits = Vec::new();
    for i in 0..n {
        locations.push(Location { x: rng.unit() * 100.0, y: rng.unit() * 100.0 });
        let start = rng.unit() * horizon * 0.7;
        let width = 10.0 + rng.unit() * horizon * 0.3;
        visits.push(Visit {
            id: format!("{}", i + 1),
            location: i + 1,
            window: TimeWindow { start, end: start + width },
            service_secs: 5.0 + rng.unit() * 10.0,
            demand: 1.0 + rng.below(5) as f64,
            required_skills: Vec::new(),
        });
    }
    let technicians = (0..m)
        .map(|k| Technician {
            id: format!("t{k}"),
            start_location: 0,
            end_location: 0,
            shift: TimeWindow { start: 0.0, end: horizon },
            capacity,
            skills: Vec::new(),
        })
        .collect();
    Instance { name: "random".into(), locations, metric: Metric::Euclidean, technicians, visits }
}

/// A built model and a regret-insertion solution of a random instance.
fn random_solution(seed: u64, n: usize) -> (Instance, Model, Solution) {
    let mut rng = Rng::new(seed);
    let instance = random_instance(&mut rng, n, 6, 15.0, 400.0);
    let model = Model::build(&instance, &DenseMatrix::for_instance(&instance));
    let mut sol = Solution::empty(&model);
    regret_insertion(&model, &mut sol, &mut rng);
    (instance, model, sol)
}

#[test]
fn solomon_parse_accepts_crlf_blank_and_header_lines() -> anyhow::Result<()> {
    // Arrange / Act
    let instance = solomon::parse(C101_HEAD)?;

    // Assert
    assert_eq!(instance.name, "C101");
    assert_eq!(instance.technicians.len(), 25);
    assert_eq!(instance.technicians[0].capacity, 200.0);
    assert_eq!(instance.technicians[0].shift, TimeWindow { start: 0.0, end: 1236.0 });
    assert_eq!(instance.visits.len(), 5);
    let v = &instance.visits[1];
    assert_eq!((v.id.as_str(), v.location, v.demand, v.service_secs), ("2", 2, 30.0, 90.0));
    assert_eq!(v.window, TimeWindow { start: 825.0, end: 870.0 });
    assert_eq!(instance.locations[2], Location { x: 45.0, y: 70.0 });
    Ok(())
}

#[test]
fn solomon_parse_reports_missing_sections_and_bad_rows() {
    assert_eq!(solomon::parse("X\nCUSTOMER\n0 0 0 0 0 1 0\n"), Err(solomon::ParseError::MissingVehicles));
    assert_eq!(solomon::parse("X\nVEHICLE\n1 10\n"), Err(solomon::ParseError::MissingCustomers));
    assert_eq!(solomon::parse("X\nVEHICLE\n1 10\nCUSTOMER\n"), Err(solomon::ParseError::EmptyTable));
    assert!(matches!(
        solomon::parse("X\nVEHICLE\n1 10\nCUSTOMER\n0 0 0 0 0 1\n"),
        Err(solomon::ParseError::BadRow { line: 5, .. })
    ));
}

#[test]
fn solomon_distance_is_real_valued_euclidean() -> anyhow::Result<()> {
    let instance = solomon::parse(C101_HEAD)?;
    let matrix = DenseMatrix::for_instance(&instance);
    assert_eq!(matrix.distance(0, 1), (25.0f64 + 324.0).sqrt());
    assert_eq!(matrix.travel_secs(0, 1), matrix.distance(0, 1));
    Ok(())
}

#[test]
fn checker_rejects_each_kind_of_violation() -> anyhow::Result<()> {
    // Arrange: depot 0, visits 1 and 2 at distance 5 from it.
    let text = "T\nVEHICLE\n2 10\nCUSTOMER\n0 0 0 0 0 100 0\n1 3 4 6 0 50 1\n2 -3 4 6 0 6 1\n";
    let instance = solomon::parse(text)?;
    let plan = |routes: Vec<(usize, Vec<usize>)>, distance: f64| {
        let routes: Vec<Route> = routes.into_iter().map(|(technician, visits)| Route { technician, visits }).collect();
        DayPlan {
            vehicles: routes.iter().filter(|r| !r.visits.is_empty()).count(),
            routes,
            unassigned: vec![],
            distance,
        }
    };

    // Act / Assert
    assert_eq!(check(&instance, &plan(vec![(0, vec![1]), (1, vec![0])], 20.0)), Ok(()));
    assert!(matches!(
        check(&instance, &plan(vec![(0, vec![0, 1])], 16.0)),
        Err(Violation::LateService { visit: 1, .. })
    ));
    assert!(matches!(
        check(&instance, &plan(vec![(0, vec![1, 0])], 16.0)),
        Err(Violation::OverCapacity { technician: 0, .. })
    ));
    assert_eq!(check(&instance, &plan(vec![(0, vec![1])], 10.0)), Err(Violation::VisitMissing { visit: 0 }));
    let mut repeated = plan(vec![(0, vec![1]), (1, vec![0])], 20.0);
    repeated.unassigned.push(Unassigned { visit: 1, reason: UnassignedReason::NoRoom });
    assert_eq!(check(&instance, &repeated), Err(Violation::VisitRepeated { visit: 1 }));
    assert_eq!(
        check(&instance, &plan(vec![(0, vec![1]), (0, vec![0])], 20.0)),
        Err(Violation::TechnicianReused { technician: 0 })
    );
    assert!(matches!(
        check(&instance, &plan(vec![(0, vec![1]), (1, vec![0])], 21.0)),
        Err(Violation::DistanceMismatch { .. })
    ));
    let mut late = instance.clone();
    late.technicians[1].shift.end = 8.0;
    assert!(matches!(
        check(&late, &plan(vec![(0, vec![1]), (1, vec![0])], 20.0)),
        Err(Violation::LateReturn { technician: 1, .. })
    ));
    let mut skilled = instance.clone();
    skilled.visits[0].required_skills = vec!["gas".into()];
    assert!(matches!(
        check(&skilled, &plan(vec![(0, vec![1]), (1, vec![0])], 20.0)),
        Err(Violation::MissingSkill { visit: 0, .. })
    ));
    Ok(())
}

#[test]
fn insertion_delta_matches_a_full_recomputation() {
    for seed in 0..30 {
        let (_, model, sol) = random_solution(seed, 25);
        let mut rng = Rng::new(seed + 1000);
        for route in sol.routes.iter().filter(|r| !r.is_empty()) {
            for out in 0..route.jobs.len() {
                // Take one job out, then try it back at every position.
                let mut base = route.clone();
                let job = base.jobs.remove(out);
                base.update(&model);
                let mut cheapest: Option<f64> = None;
                for p in 0..=base.jobs.len() {
                    let mut full = base.clone();
                    full.jobs.insert(p, job);
                    full.update(&model);
                    let expected = full.feasible(&model).then_some(full.dist - base.dist);
                    let got = base.insert_cost(&model, job, p);
                    match (got, expected) {
                        (Some(g), Some(e)) => assert!((g - e).abs() < 1e-9, "seed {seed}: {g} vs {e}"),
                        (None, None) => {}
                        _ => panic!("seed {seed} job {job} at {p}: delta says {got:?}, recomputation {expected:?}"),
                    }
                    if let Some(e) = expected {
                        cheapest = Some(cheapest.map_or(e, |c: f64| c.min(e)));
                    }
                }
                let best = base.best_insert(&model, job, f64::INFINITY, 0.0, &mut rng).map(|b| b.0);
                match (best, cheapest) {
                    (Some(b), Some(c)) => assert!((b - c).abs() < 1e-9),
                    (None, None) => {}
                    _ => panic!("seed {seed}: best_insert {best:?} vs brute force {cheapest:?}"),
                }
            }
        }
    }
}

#[test]
fn public_best_insertion_agrees_with_the_checker() {
    for seed in 0..20 {
        let (instance, model, sol) = random_solution(seed, 20);
        let matrix = DenseMatrix::for_instance(&instance);
        // Today's routes without the last visit; every technician listed, idle ones empty.
        let target = instance.visits.len() - 1;
        let routes: Vec<Route> = sol
            .routes
            .iter()
            .map(|r| Route {
                technician: r.vehicle,
                visits: r.jobs.iter().map(|&j| model.visit_of[j]).filter(|&v| v != target).collect(),
            })
            .collect();
        let got = best_insertion(&instance, &routes, &instance.visits[target], &matrix);
        // Brute force through the checker.
        let mut expected: Option<f64> = None;
        for route in &routes {
            for p in 0..=route.visits.len() {
                // A plan of this one route, everything else unassigned.
                let mut changed = route.clone();
                changed.visits.insert(p, target);
                let unassigned = (0..instance.visits.len())
                    .filter(|v| !changed.visits.contains(v))
                    .map(|visit| Unassigned { visit, reason: UnassignedReason::NoRoom })
                    .collect();
                let distance = route_distance(&instance, &matrix, &changed);
                let plan = DayPlan { routes: vec![changed], unassigned, distance, vehicles: 1 };
                if check_with_matrix(&instance, &matrix, &plan).is_ok() {
                    let added = distance - route_distance(&instance, &matrix, route);
                    expected = Some(expected.map_or(added, |e: f64| e.min(added)));
                }
            }
        }
        match (got, expected) {
            (Some(g), Some(e)) => assert!((g.added_distance - e).abs() < 1e-9, "seed {seed}"),
            (None, None) => {}
            _ => panic!("seed {seed}: best_insertion {got:?} vs brute force {expected:?}"),
        }
    }
}

fn route_distance(instance: &Instance, matrix: &DenseMatrix, route: &Route) -> f64 {
    if route.visits.is_empty() {
        return 0.0;
    }
    let tech = &instance.technicians[route.technician];
    let mut at = tech.start_location;
    let mut d = 0.0;
    for &v in &route.visits {
        d += matrix.distance(at, instance.visits[v].location);
        at = instance.visits[v].location;
    }
    d + matrix.distance(at, tech.end_location)
}

/// Every ordered split of the visits into at most `m` routes; (vehicles, distance) of the best
/// by distance and of the best by vehicles then distance.
fn brute_force(instance: &Instance) -> ((usize, f64), (usize, f64)) {
    let n = instance.visits.len();
    let m = instance.technicians.len();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut best_distance = (usize::MAX, f64::INFINITY);
    let mut best_vehicles = (usize::MAX, f64::INFINITY);
    fn permutations(k: usize, perm: &mut Vec<usize>, visit: &mut dyn FnMut(&[usize])) {
        if k == perm.len() {
            visit(perm);
            return;
        }
        for i in k..perm.len() {
            perm.swap(k, i);
            permutations(k + 1, perm, visit);
            perm.swap(k, i);
        }
    }
    let matrix = DenseMatrix::for_instance(instance);
    permutations(0, &mut perm, &mut |order| {
        for cuts in 0u32..(1 << (n - 1)) {
            let mut routes = vec![Route { technician: 0, visits: vec![order[0]] }];
            for (i, &v) in order.iter().enumerate().skip(1) {
                if cuts & (1 << (i - 1)) != 0 {
                    routes.push(Route { technician: routes.len(), visits: vec![] });
                }
                routes.last_mut().unwrap().visits.push(v);
            }
            if routes.len() > m {
                continue;
            }
            let distance: f64 = routes.iter().map(|r| route_distance(instance, &matrix, r)).sum();
            let vehicles = routes.len();
            let plan = DayPlan { routes, unassigned: vec![], distance, vehicles };
            if check(instance, &plan).is_ok() {
                if distance < best_distance.1 {
                    best_distance = (vehicles, distance);
                }
                if (vehicles, distance) < best_vehicles {
                    best_vehicles = (vehicles, distance);
                }
            }
        }
    });
    (best_distance, best_vehicles)
}

#[test]
fn tiny_instances_are_solved_to_the_brute_force_optimum() {
    let mut found_trade_off = false;
    for seed in 0..40 {
        let mut rng = Rng::new(seed);
        let instance = random_instance(&mut rng, 6, 3, 10.0, 300.0);
        let ((dv, dd), (vv, vd)) = brute_force(&instance);
        if dv == usize::MAX {
            continue;
        }
        found_trade_off |= dv != vv;

        let by_distance = solve_checked(&instance, &options(Objective::Distance, 300, seed));
        let by_vehicles = solve_checked(&instance, &options(Objective::Vehicles, 300, seed));

        assert!(by_distance.unassigned.is_empty());
        assert!((by_distance.distance - dd).abs() < 1e-6, "seed {seed}: {} vs optimum {dd}", by_distance.distance);
        assert_eq!(by_vehicles.vehicles, vv, "seed {seed}");
        assert!((by_vehicles.distance - vd).abs() < 1e-6, "seed {seed}: {} vs optimum {vd}", by_vehicles.distance);
    }
    assert!(found_trade_off, "no instance where the objectives disagree; pick other seeds");
}

#[test]
fn visits_nobody_can_serve_are_unassigned_with_a_reason() -> anyhow::Result<()> {
    // Arrange: visit 1 needs a skill nobody has, visit 2 is too heavy, visit 3's window closes
    // before anyone can get there, and visits 4 and 5 cannot both fit the one vehicle.
    let text = "T\nVEHICLE\n1 10\nCUSTOMER\n0 0 0 0 0 1000 0\n\
        1 1 0 1 0 100 0\n2 0 1 11 0 100 0\n3 50 0 1 0 10 0\n4 2 0 6 0 100 0\n5 0 2 6 0 100 0\n6 1 1 1 0 100 0\n";
    let mut instance = solomon::parse(text)?;
    instance.visits[0].required_skills = vec!["ladder".into()];

    // Act
    let plan = solve_checked(&instance, &options(Objective::Distance, 100, 1));

    // Assert
    let reasons: Vec<(usize, UnassignedReason)> = plan.unassigned.iter().map(|u| (u.visit, u.reason)).collect();
    assert_eq!(
        reasons[..3],
        [
            (0, UnassignedReason::NoTechnicianWithSkills),
            (1, UnassignedReason::DemandExceedsCapacity),
            (2, UnassignedReason::WindowUnreachable),
        ]
    );
    assert_eq!(reasons.len(), 4);
    assert!(matches!(reasons[3], (3 | 4, UnassignedReason::NoRoom)));
    assert_eq!(plan.vehicles, 1);
    Ok(())
}

#[test]
fn the_same_seed_and_iteration_budget_give_the_same_plan() {
    let mut rng = Rng::new(42);
    let instance = random_instance(&mut rng, 40, 10, 20.0, 500.0);
    for objective in [Objective::Distance, Objective::Vehicles] {
        let first = solve_checked(&instance, &options(objective, 500, 9));
        let second = solve_checked(&instance, &options(objective, 500, 9));
        assert_eq!(first, second);
    }
}

#[test]
fn the_time_limit_is_read_from_the_injected_clock() {
    // Arrange: a clock that moves 10 ms each time it is read, and a 1 s limit.
    let mut rng = Rng::new(3);
    let instance = random_instance(&mut rng, 30, 8, 20.0, 500.0);
    let reads = Cell::new(0u64);
    let clock = || {
        reads.set(reads.get() + 1);
        Duration::from_millis(10 * reads.get())
    };
    let options =
        PlanOptions { objective: Objective::Vehicles, time_limit: Duration::from_secs(1), iterations: None, seed: 1 };

    // Act
    let plan = solve(&instance, &options, &clock);

    // Assert: stopped after about 100 reads, with a feasible plan.
    assert!(reads.get() <= 102, "{} clock reads", reads.get());
    assert!(reads.get() >= 90, "{} clock reads", reads.get());
    check(&instance, &plan).unwrap();
    assert!(plan.unassigned.is_empty());
}

#[test]
fn a_zero_time_limit_still_returns_the_constructed_plan() {
    let mut rng = Rng::new(5);
    let instance = random_instance(&mut rng, 30, 8, 20.0, 500.0);
    let options = PlanOptions { time_limit: Duration::ZERO, ..PlanOptions::default() };
    let plan = solve(&instance, &options, &frozen());
    check(&instance, &plan).unwrap();
    assert!(plan.unassigned.is_empty());
}

#[test]
fn improvement_beats_construction_on_random_instances() {
    for seed in 0..3 {
        let mut rng = Rng::new(seed);
        let instance = random_instance(&mut rng, 50, 12, 25.0, 600.0);
        let constructed = solve_checked(&instance, &options(Objective::Distance, 0, seed));
        let improved = solve_checked(&instance, &options(Objective::Distance, 2000, seed));
        assert!(improved.distance < constructed.distance, "seed {seed}");
        let fewer = solve_checked(&instance, &options(Objective::Vehicles, 2000, seed));
        assert!(fewer.vehicles <= improved.vehicles);
    }
}

#[test]
fn skills_and_home_bases_are_respected_with_great_circle_travel() {
    // Arrange: two technicians with different home bases in a city; gas visits need the gas engineer.
    let at = |lon: f64, lat: f64| Location { x: lon, y: lat };
    let locations = vec![at(-0.10, 51.50), at(-0.20, 51.55), at(-0.11, 51.51), at(-0.19, 51.54), at(-0.12, 51.52)];
    let hour = 3600.0;
    let technician = |id: &str, home: usize, skills: &[&str]| Technician {
        id: id.into(),
        start_location: home,
        end_location: home,
        shift: TimeWindow { start: 8.0 * hour, end: 17.0 * hour },
        capacity: 5.0,
        skills: skills.iter().map(|s| s.to_string()).collect(),
    };
    let visit = |id: &str, location: usize, skills: &[&str]| Visit {
        id: id.into(),
        location,
        window: TimeWindow { start: 8.0 * hour, end: 16.0 * hour },
        service_secs: 1800.0,
        demand: 1.0,
        required_skills: skills.iter().map(|s| s.to_string()).collect(),
    };
    let instance = Instance {
        name: "london".into(),
        locations,
        metric: Metric::GreatCircle { speed_m_per_s: 8.0 },
        technicians: vec![technician("ann", 0, &[]), technician("bob", 1, &["gas"])],
        visits: vec![visit("a", 2, &["gas"]), visit("b", 3, &[]), visit("c", 4, &[])],
    };

    // Act
    let plan = solve_checked(&instance, &options(Objective::Distance, 200, 1));

    // Assert: the gas visit next to ann's base goes to bob.
    let of = |v: usize| plan.routes.iter().find(|r| r.visits.contains(&v)).map(|r| r.technician);
    assert_eq!(of(0), Some(1));
    assert!(plan.unassigned.is_empty());
    let matrix = DenseMatrix::for_instance(&instance);
    let stops = timeline(&instance, &matrix, &plan.routes[0]);
    assert!(stops.iter().all(|s| s.start_secs >= s.arrival_secs));
    assert!((matrix::great_circle_m(at(0.0, 0.0), at(1.0, 0.0)) - 111_195.0).abs() < 1.0);
}

#[test]
fn bench_rows_compare_with_the_bks_and_print_json() -> anyhow::Result<()> {
    let bks = bench::parse_bks("instance,vehicles,distance,source\r\nTINY,1,16.0,\"x, y\"\r\n");
    let text = "TINY\nVEHICLE\n2 10\nCUSTOMER\n0 0 0 0 0 100 0\n1 3 4 1 0 50 1\n2 -3 4 1 0 50 1\n";
    let (row, instance, plan) =
        bench::run_instance("TINY", text, bks.get("tiny").copied(), &options(Objective::Vehicles, 50, 1), &frozen())?;
    assert!(row.feasible);
    assert_eq!(row.vehicles, 1);
    assert!(row.gap_pct.unwrap().abs() < 1e-9);
    let json = bench::plan_json(&instance, &plan);
    assert!(json == r#"{"routes":[[1,2]],"vehicles":1,"distance":16.0000}"# || json.contains("[[2,1]]"), "{json}");
    let table = bench::format_table(&[row], Objective::Vehicles);
    assert!(table.contains("vehicles = BKS: 1/1"), "{table}");
    Ok(())
}

#[test]
fn locations_outside_the_instance_are_reported_not_panicked_on() -> anyhow::Result<()> {
    // Arrange: visit 1 points past the locations; technician 1 starts nowhere known.
    let text = "T\nVEHICLE\n2 10\nCUSTOMER\n0 0 0 0 0 100 0\n1 3 4 1 0 50 1\n2 -3 4 1 0 50 1\n";
    let mut instance = solomon::parse(text)?;
    instance.visits[1].location = 99;
    instance.technicians[1].start_location = 42;

    // Act
    let plan = solve_checked(&instance, &options(Objective::Distance, 50, 1));
    let matrix = DenseMatrix::for_instance(&instance);
    let fits = best_insertion(&instance, &plan.routes, &instance.visits[1], &matrix);

    // Assert
    assert_eq!(plan.unassigned, vec![Unassigned { visit: 1, reason: UnassignedReason::UnknownLocation }]);
    assert!(plan.routes.iter().all(|r| r.technician == 0));
    assert_eq!(fits, None);
    let mut empty = instance.clone();
    empty.locations.clear();
    let plan = solve(&empty, &options(Objective::Vehicles, 50, 1), &frozen());
    assert_eq!(plan.unassigned.len(), 2);
    assert!(plan.routes.is_empty());
    Ok(())
}

/// Checks a late schedule against its route: the planner's starts, arrivals just in time where
/// there is slack, departures after service, travel between consecutive places, the shift.
#[track_caller]
fn check_late(instance: &Instance, matrix: &DenseMatrix, route: &Route) {
    const EPS: f64 = check::TOLERANCE;
    let late = latest_departures(instance, matrix, route);
    let early = timeline(instance, matrix, route);
    let tech = &instance.technicians[route.technician];
    assert_eq!(late.stops.len(), early.len());
    assert!(late.leave_secs >= tech.shift.start - EPS, "{late:?}");
    let (mut at, mut left, mut service_end) = (tech.start_location, late.leave_secs, tech.shift.start);
    for (stop, e) in late.stops.iter().zip(&early) {
        let visit = &instance.visits[stop.visit];
        assert_eq!(stop.start_secs, e.start_secs, "service starts never move");
        assert!(stop.start_secs <= stop.latest_start_secs + EPS, "feasible: {stop:?}");
        assert!((stop.arrival_secs - (left + matrix.travel_secs(at, visit.location))).abs() < EPS, "{stop:?}");
        assert!(stop.arrival_secs <= stop.start_secs + EPS && stop.arrival_secs >= e.arrival_secs - EPS);
        // A wait at the door only when leaving later was impossible (service or shift before it).
        let waits = stop.start_secs - stop.arrival_secs > EPS;
        assert!(!waits || (left - service_end).abs() < EPS, "needless wait at {stop:?}");
        assert!(stop.departure_secs >= stop.start_secs + visit.service_secs - EPS);
        (at, left, service_end) = (visit.location, stop.departure_secs, stop.start_secs + visit.service_secs);
    }
}

#[test]
fn the_first_visit_of_the_day_is_reached_just_in_time_not_hours_early() {
    // Arrange: shift from 0, home at 0, one visit 100 away whose window opens at 1000 (travel 100).
    let text = "LATE\nVEHICLE\n1 10\nCUSTOMER\n0 0 0 0 0 5000 0\n1 100 0 1 1000 1200 60\n2 100 50 1 1100 3000 60\n";
    let instance = solomon::parse(text).expect("instance");
    let matrix = DenseMatrix::for_instance(&instance);
    let route = Route { technician: 0, visits: vec![0, 1] };
    let plan = DayPlan {
        routes: vec![route.clone()],
        unassigned: vec![],
        distance: 100.0 + 50.0 + 50f64.hypot(100.0),
        vehicles: 1,
    };
    check(&instance, &plan).expect("a feasible route");

    // Act
    let late = latest_departures(&instance, &matrix, &route);

    // Assert: leave at 900 and arrive at 1000 (not at 100, to wait at the door);
    // the second stop is 50 away and opens at 1100: leave the first at service end (1060), arrive 1110.
    assert_eq!(late.leave_secs, 900.0);
    assert_eq!((late.stops[0].arrival_secs, late.stops[0].start_secs), (1000.0, 1000.0));
    assert_eq!((late.stops[1].arrival_secs, late.stops[1].start_secs), (1110.0, 1110.0));
    assert_eq!(late.stops[0].departure_secs, 1060.0);
    // The latest starts: the second by its window end, the first by the second's.
    assert_eq!(late.stops[1].latest_start_secs, 3000.0);
    assert_eq!(late.stops[0].latest_start_secs, 1200.0);
    check_late(&instance, &matrix, &route);
}

#[test]
fn a_wait_between_visits_is_spent_before_leaving_the_previous_one() {
    // Arrange: the second window opens long after the first visit ends.
    let text = "GAP\nVEHICLE\n1 10\nCUSTOMER\n0 0 0 0 0 5000 0\n1 10 0 1 0 100 10\n2 20 0 1 1000 1100 10\n";
    let instance = solomon::parse(text).expect("instance");
    let matrix = DenseMatrix::for_instance(&instance);
    let route = Route { technician: 0, visits: vec![0, 1] };

    // Act
    let late = latest_departures(&instance, &matrix, &route);

    // Assert: served at 10 (earliest), leave at 990, arrive at 1000 sharp.
    assert_eq!(late.stops[0].start_secs, 10.0);
    assert_eq!(late.stops[0].departure_secs, 990.0);
    assert_eq!(late.stops[1].arrival_secs, 1000.0);
    check_late(&instance, &matrix, &route);
}

#[test]
fn late_schedules_of_random_plans_keep_starts_and_never_wait_needlessly() {
    for seed in 0..5 {
        let mut rng = Rng::new(seed);
        let instance = random_instance(&mut rng, 40, 8, 20.0, 500.0);
        let plan = solve_checked(&instance, &options(Objective::Distance, 300, seed));
        let matrix = DenseMatrix::for_instance(&instance);
        for route in &plan.routes {
            check_late(&instance, &matrix, route);
        }
    }
}
