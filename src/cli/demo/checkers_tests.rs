use super::*;

#[test]
fn a_new_checker_is_healthy_and_flips_only_after_threshold_failures() {
    let mut c = Checker::new(3);
    assert!(c.healthy());
    assert!(!c.observe(false));
    assert!(!c.observe(false));
    assert!(c.healthy());
    assert!(c.observe(false), "third consecutive failure flips the view");
    assert!(!c.healthy());
    assert!(!c.observe(false), "already unhealthy: no change");
}

#[test]
fn a_result_that_agrees_with_the_view_resets_the_streak() {
    let mut c = Checker::new(3);
    c.observe(false);
    c.observe(false);
    c.observe(true);
    assert!(!c.observe(false));
    assert!(!c.observe(false));
    assert!(c.healthy());
    assert!(c.observe(false));
    // And back: three consecutive passes.
    c.observe(true);
    c.observe(true);
    c.observe(false);
    c.observe(true);
    c.observe(true);
    assert!(!c.healthy());
    assert!(c.observe(true));
    assert!(c.healthy());
}

#[test]
fn threshold_one_flips_at_once_and_zero_counts_as_one() {
    for t in [0, 1] {
        let mut c = Checker::new(t);
        assert!(c.observe(false));
        assert!(c.observe(true));
    }
}

#[test]
fn two_and_three_hundreds_pass_everything_else_fails() {
    for s in [200, 204, 299, 301, 302, 399] {
        assert!(passes(Some(s)), "{s}");
    }
    for s in [100, 199, 400, 404, 500, 503] {
        assert!(!passes(Some(s)), "{s}");
    }
    assert!(!passes(None), "no status (refused, timed out) fails");
}

#[test]
fn a_record_is_healthy_when_more_than_18_percent_of_checkers_say_so() {
    assert!(record_healthy(&[true, false, false]), "1 of 3 = 33%");
    assert!(!record_healthy(&[false, false, false]));
    let mut fifteen = vec![false; 15];
    fifteen[0] = true;
    fifteen[1] = true;
    assert!(!record_healthy(&fifteen), "2 of 15 = 13%");
    fifteen[2] = true;
    assert!(record_healthy(&fifteen), "3 of 15 = 20%");
    assert!(record_healthy(&[]), "no checkers: counted healthy");
}

#[test]
fn the_demo_keeps_route53s_threshold_and_timeouts_and_only_shortens_the_interval() {
    assert_eq!(DEMO_TIMING.threshold, ROUTE53_TIMING.threshold);
    assert_eq!(DEMO_TIMING.connect_timeout, ROUTE53_TIMING.connect_timeout);
    assert_eq!(DEMO_TIMING.response_timeout, ROUTE53_TIMING.response_timeout);
    assert!(DEMO_TIMING.interval < ROUTE53_TIMING.interval);
}
