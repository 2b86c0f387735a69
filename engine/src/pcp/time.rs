//! Local-time formatting the way pgpool prints timestamps: `YYYY-MM-DD HH:MM:SS`.

/// Formats Unix epoch seconds as local time `YYYY-MM-DD HH:MM:SS` (what pgpool's
/// `strftime("%Y-%m-%d %H:%M:%S", localtime(t))` prints).
pub fn format_local(epoch: u64) -> String {
    let t = libc::time_t::try_from(epoch).unwrap_or(0);
    // SAFETY: an all-zero `tm` is a valid value of the plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe variant
    // and writes only into `tm`.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return String::new();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_strftime() {
        let s = super::format_local(0);
        assert_eq!(s.len(), 19);
        assert_eq!(&s[4..5], "-");
        assert_eq!(&s[13..14], ":");
    }
}
