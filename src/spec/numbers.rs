//! Numbers as written in a config: finite, in range, and shown back as YAML spells
//! them. Every float key (seconds, calls per second) goes through [`finite`] or
//! [`finite_secs`], so NaN, infinities and out-of-range values are refused with
//! the field path and the fix, never handed to `Duration::from_secs_f64`.

use std::time::Duration;

/// A number as written, for messages: `.nan`, `.inf` and `-.inf` as YAML spells
/// them, and very large or very small values in exponent form (`1e300`, not 301 digits).
pub(crate) fn show(v: f64) -> String {
    if v.is_nan() {
        ".nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { ".inf" } else { "-.inf" }.into()
    } else if v != 0.0 && !(1e-4..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A float key as written: `Some(v)` when it is a finite number in `lo..=hi`, else
/// a message in `errs` with the field path, what is wrong (not a number, not
/// finite, out of range) and the fix (`use lo to hi` and `hint`), and `None`.
pub(crate) fn finite(field: &str, v: f64, (lo, hi): (f64, f64), hint: &str, errs: &mut Vec<String>) -> Option<f64> {
    let Some(why) = problem(v, (lo, hi)) else {
        return Some(v);
    };
    errs.push(format!("{field}: {} {why}; use {lo} to {hi}{hint}", show(v)));
    None
}

/// What is wrong with `v` for `lo..=hi`, if anything.
pub(crate) fn problem(v: f64, (lo, hi): (f64, f64)) -> Option<&'static str> {
    if v.is_nan() {
        Some("is not a number")
    } else if v.is_infinite() {
        Some("is not a finite number")
    } else if !(lo..=hi).contains(&v) {
        Some("is out of range")
    } else {
        None
    }
}

/// A number of seconds as written: [`finite`], then a [`Duration`]. Never panics:
/// NaN, infinities, negative values and values too large for a `Duration` are
/// refused with a message, never handed to `Duration::from_secs_f64`.
pub(crate) fn finite_secs(
    field: &str,
    v: f64,
    range: (f64, f64),
    hint: &str,
    errs: &mut Vec<String>,
) -> Option<Duration> {
    let v = finite(field, v, range, hint, errs)?;
    match Duration::try_from_secs_f64(v) {
        Ok(d) => Some(d),
        Err(_) => {
            errs.push(format!(
                "{field}: {} is out of range; use {} to {}{hint}",
                show(v),
                range.0,
                range.1
            ));
            None
        }
    }
}
