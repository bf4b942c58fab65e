//! Tests of `publish/http/admin_guard.rs`.

use super::constant_time_eq;

#[test]
fn tokens_compare_equal_only_when_equal() {
    assert!(constant_time_eq(b"abc", b"abc"));
    for other in [&b"ab"[..], b"abcd", b"abd", b"", b"ab\xbc"] {
        assert!(!constant_time_eq(other, b"abc"), "{other:?}");
    }
}
