//! How option values are written, one way for the command line and the profile file alike:
//! durations in seconds (or `indefinite`), sizes with K, M or G, modes in octal.

use std::time::Duration;

/// What `indefinite` means: about a century, "forever" for a mount and still valid for the
/// kernel's TTLs.
pub const INDEFINITE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A TTL: seconds, or `indefinite`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    if s.eq_ignore_ascii_case("indefinite") {
        return Ok(INDEFINITE);
    }
    s.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("'{s}' is neither a number of seconds nor 'indefinite'"))
}

/// A positive number of seconds.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is not a positive number of seconds"))
}

/// A byte count such as `4096`, `64K`, `8M` or `1G` (powers of 1024).
pub fn parse_size_or_zero(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("'{s}' is not a size such as 4096, 64K, 8M or 1G")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("'{s}' is not a size such as 4096, 64K, 8M or 1G"))
}

/// A byte count more than zero.
pub fn parse_size(s: &str) -> Result<u64, String> {
    match parse_size_or_zero(s)? {
        0 => Err(format!("'{s}' must be more than zero")),
        n => Ok(n),
    }
}

/// Permission bits in octal, such as `0444`.
pub fn parse_mode(s: &str) -> Result<u16, String> {
    u16::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("'{s}' is not an octal mode such as 0444"))
}

/// `--read-parallel`: 1 to 64.
/// `--small-files-ahead`: 0 to 256 files.
pub fn parse_small_files_ahead(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n <= 256)
        .ok_or_else(|| format!("'{s}' is not a number of files from 0 to 256"))
}

/// A duration in seconds, or with a unit `s`, `m` or `h` (`900`, `15m`, `12h`).
pub fn parse_session_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => t.split_at(at),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?}: use seconds, or a number with s, m or h")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?}: use seconds, or a number with s, m or h"))?;
    Ok(Duration::from_secs(n.saturating_mul(scale)))
}

pub fn parse_parallel(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| format!("'{s}' is not a number from 1 to 64"))
}

/// A duration as [`parse_ttl`] reads it back.
pub fn show_seconds(d: Duration) -> String {
    if d >= INDEFINITE {
        "indefinite".into()
    } else {
        d.as_secs().to_string()
    }
}

/// A size in the largest unit that divides it, as [`parse_size_or_zero`] reads it back.
pub fn show_size(n: u64) -> String {
    [(30, "G"), (20, "M"), (10, "K")]
        .iter()
        .find(|(shift, _)| n != 0 && n % (1 << shift) == 0)
        .map(|(shift, unit)| format!("{}{unit}", n >> shift))
        .unwrap_or_else(|| n.to_string())
}

/// A mode as [`parse_mode`] reads it back.
pub fn show_mode(m: u16) -> String {
    format!("{m:04o}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_durations_take_seconds_or_a_unit() {
        let secs = |n| Ok(Duration::from_secs(n));
        assert_eq!(parse_session_duration("900"), secs(900));
        assert_eq!(parse_session_duration("15m"), secs(900));
        assert_eq!(parse_session_duration("12h"), secs(43_200));
        assert_eq!(parse_session_duration("90s"), secs(90));
        for bad in ["", "1d", "h", "1.5h", "-1"] {
            assert!(parse_session_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_small_files_ahead("0"), Ok(0));
        assert!(parse_small_files_ahead("257").is_err());
    }

    #[test]
    fn values_parse() {
        assert_eq!(parse_mode("0444"), Ok(0o444));
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert!(parse_mode("999").is_err());
        assert_eq!(parse_ttl("5"), Ok(Duration::from_secs(5)));
        assert!(parse_ttl("indefinite").unwrap() > Duration::from_secs(1 << 30));
        assert!(parse_ttl("soon").is_err());
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert_eq!(parse_size_or_zero("0"), Ok(0));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("M").is_err());
        assert_eq!(parse_parallel("64"), Ok(64));
        assert!(parse_parallel("0").is_err());
        assert!(parse_parallel("65").is_err());
    }

    #[test]
    fn shown_values_parse_back() {
        for n in [0, 4096, 1000, 64 << 10, 8 << 20, 3 << 30, (1 << 20) + 1] {
            assert_eq!(parse_size_or_zero(&show_size(n)), Ok(n), "{n}");
        }
        assert_eq!(show_size(512 << 20), "512M");
        for d in [Duration::ZERO, Duration::from_secs(60), INDEFINITE] {
            assert_eq!(parse_ttl(&show_seconds(d)), Ok(d));
        }
        assert_eq!(parse_mode(&show_mode(0o555)), Ok(0o555));
    }
}

/// The profile file's side of these values (serde `with` modules): written as the command
/// line writes them, read from a string or a plain integer alike (`metadata-ttl = 60` and
/// `metadata-ttl = "60"`; `file-mode = "0440"`).
pub mod serde_as {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;

    /// A value written as text or as an integer, handed to the command line's parser.
    struct Text<T>(fn(&str) -> Result<T, String>, PhantomData<T>);

    impl<T> Visitor<'_> for Text<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or an integer")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            (self.0)(v).map(Some).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
    }

    fn read<'de, D: Deserializer<'de>, T>(
        d: D,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, D::Error> {
        d.deserialize_any(Text(parse, PhantomData))
    }

    fn write<S: Serializer, T>(
        v: &Option<T>,
        s: S,
        show: impl Fn(&T) -> String,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&show(v)),
            None => s.serialize_none(),
        }
    }

    macro_rules! as_text {
        ($name:ident, $t:ty, $parse:path, $show:expr) => {
            pub mod $name {
                use super::*;
                pub fn deserialize<'de, D: Deserializer<'de>>(
                    d: D,
                ) -> Result<Option<$t>, D::Error> {
                    read(d, $parse)
                }
                pub fn serialize<S: Serializer>(v: &Option<$t>, s: S) -> Result<S::Ok, S::Error> {
                    write(v, s, $show)
                }
            }
        };
    }

    use std::time::Duration;
    as_text!(
        ttl,
        Duration,
        crate::settings::values::parse_ttl,
        |d: &Duration| crate::settings::values::show_seconds(*d)
    );
    as_text!(
        seconds,
        Duration,
        crate::settings::values::parse_seconds,
        |d: &Duration| crate::settings::values::show_seconds(*d)
    );
    as_text!(size, u64, crate::settings::values::parse_size, |n: &u64| {
        crate::settings::values::show_size(*n)
    });
    as_text!(
        size_or_zero,
        u64,
        crate::settings::values::parse_size_or_zero,
        |n: &u64| crate::settings::values::show_size(*n)
    );
    as_text!(mode, u16, crate::settings::values::parse_mode, |m: &u16| {
        crate::settings::values::show_mode(*m)
    });
    as_text!(
        parallel,
        u64,
        crate::settings::values::parse_parallel,
        |n: &u64| n.to_string()
    );
    as_text!(
        small_files_ahead,
        u64,
        crate::settings::values::parse_small_files_ahead,
        |n: &u64| n.to_string()
    );
    as_text!(
        session,
        Duration,
        crate::settings::values::parse_session_duration,
        |d: &Duration| crate::settings::values::show_seconds(*d)
    );
}
