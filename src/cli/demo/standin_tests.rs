use super::*;

fn views(down: &[(usize, &'static str, usize)]) -> Views {
    let mut v: Views = BTreeMap::new();
    for r in 0..REGIONS.len() {
        for app in APPS {
            v.insert((r, app), vec![true; checkers::CHECKERS]);
        }
    }
    // (Region, app, how many of its checkers say unhealthy)
    for (r, app, n) in down {
        let slots = v.get_mut(&(*r, *app)).expect("known record");
        slots.iter_mut().take(*n).for_each(|h| *h = false);
    }
    v
}

#[test]
fn all_healthy_answers_the_primary_for_every_app() {
    let a = answers(&views(&[]));
    assert_eq!(a.len(), APPS.len());
    for app in APPS {
        assert_eq!(target(&a[app]), Some(0), "{app}");
        assert_eq!(
            line(app, &a[app]),
            format!("{app}.example.com -> eu-west-1 192.0.2.10 (primary eu-west-1 healthy)")
        );
    }
}

#[test]
fn app1_moves_only_when_every_checker_of_its_primary_says_unhealthy() {
    let n = checkers::CHECKERS;
    let a = answers(&views(&[(0, "app1", n - 1)]));
    assert_eq!(target(&a["app1"]), Some(0), "one checker of {n} healthy is over 18%");
    let a = answers(&views(&[(0, "app1", n)]));
    assert_eq!(target(&a["app1"]), Some(1));
    assert_eq!(target(&a["app2"]), Some(0), "app2 stays");
    assert_eq!(
        line("app1", &a["app1"]),
        "app1.example.com -> eu-central-1 198.51.100.10 (primary eu-west-1 unhealthy, secondary eu-central-1 healthy)"
    );
}

#[test]
fn both_unhealthy_answers_the_primary_as_route53_does() {
    let n = checkers::CHECKERS;
    let a = answers(&views(&[(0, "app1", n), (1, "app1", n)]));
    assert_eq!(target(&a["app1"]), Some(0));
    assert!(
        a["app1"].why.contains("Route 53 answers the primary"),
        "{}",
        a["app1"].why
    );
}

#[test]
fn the_records_are_one_failover_set_per_app() {
    let rs = records(&views(&[]), "app2");
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0].set_identifier, "eu-west-1");
    assert_eq!(rs[0].routing, Routing::Failover(FailoverRole::Primary));
    assert_eq!(rs[1].set_identifier, "eu-central-1");
    assert_eq!(rs[1].routing, Routing::Failover(FailoverRole::Secondary));
}

#[test]
fn the_banner_gives_a_working_dig_command_and_the_documented_time() {
    let addr: SocketAddr = "127.0.0.1:18053".parse().expect("addr");
    let b = banner(addr, checkers::DEMO_TIMING, Duration::from_millis(2500));
    assert!(b.contains("dig @127.0.0.1 -p 18053 app1.example.com +short"), "{b}");
    assert!(b.contains("every 1 s, failure threshold 3"), "{b}");
    assert!(
        b.contains("every 30 s or 10 s"),
        "Route 53's own interval is shown: {b}"
    );
    assert!(b.contains("= 5.5 s\nat this server"), "{b}");
    assert!(b.contains("10.5 s in all"), "{b}");
}
