//! Local-time formatting the way pgpool prints timestamps: `YYYY-MM-DD HH:MM:SS`.
#![allow(unsafe_code)]

/// Formats Unix epoch seconds as C's `asctime` does, without the newline:
/// `Sat Nov 21 06:59:32 2026`.
pub fn format_asctime(epoch: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(tm) = local_tm(epoch) else {
        return String::new();
    };
    let day = usize::try_from(tm.tm_wday).ok().and_then(|d| DAYS.get(d));
    let month = usize::try_from(tm.tm_mon).ok().and_then(|m| MONTHS.get(m));
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        day.unwrap_or(&"???"),
        month.unwrap_or(&"???"),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

/// Formats Unix epoch seconds as local time `YYYY-MM-DD HH:MM:SS` (what pgpool's
/// `strftime("%Y-%m-%d %H:%M:%S", localtime(t))` prints).
pub fn format_local(epoch: u64) -> String {
    let Some(tm) = local_tm(epoch) else {
        return String::new();
    };
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

/// The broken-down local time of `epoch` (`localtime_r`).
fn local_tm(epoch: u64) -> Option<libc::tm> {
    let t = libc::time_t::try_from(epoch).ok()?;
    // SAFETY: an all-zero `tm` is a valid value of the plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe variant
    // and writes only into `tm`.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    ok.then_some(tm)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_strftime() {
        let s = super::format_local(0);
        assert_eq!(s.len(), 19);
        assert_eq!(&s[4..5], "-");
        assert_eq!(&s[13..14], ":");
        let a = super::format_asctime(86_400 * 3);
        assert_eq!(a.len(), 24, "{a}");
    }
}
