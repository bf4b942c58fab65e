//! Tests of `cli/preflight/mod.rs`.

use super::*;

fn row(ok: bool, app: &str, at: &str, detail: &str) -> Row {
    let (app, at, detail) = (app.into(), at.into(), detail.into());
    Row { ok, app, at, detail }
}

#[test]
fn the_report_aligns_its_columns_and_sums_up() {
    let rows = [
        row(true, "app1", "203.0.113.10:80", "200 HEALTHY app1"),
        row(false, "payments", "203.0.113.9:80", "redirect (301 to https://x/)"),
    ];
    let mut out = Vec::new();
    report(&rows, &mut out).ok();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(
        text,
        "ok    app1      203.0.113.10:80  200 HEALTHY app1\n\
             FAIL  payments  203.0.113.9:80   redirect (301 to https://x/)\n\
             Preflight: 1 ok, 1 failed: fix each FAIL line before Route 53 checks it.\n"
    );
}
