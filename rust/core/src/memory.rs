//! The one memory budget: how many bytes this process may still allocate, and the one check
//! every large allocation goes through before it is made.
//!
//! The budget is the smallest of the bounds that can be known:
//! - the machine's available memory (`MemAvailable` in `/proc/meminfo`);
//! - the process's own limits: `RLIMIT_AS` less the current virtual size, `RLIMIT_DATA` less
//!   the current data size (`/proc/self/status`);
//! - the memory cgroup's limit less its usage, at every level of the hierarchy (cgroup v2
//!   `memory.max` / `memory.current`, v1 `memory.limit_in_bytes` / `memory.usage_in_bytes`).
//!
//! Bounds that cannot be read (other systems, no cgroup) are left out. The budget is read anew
//! at each check: other allocations of the process change it.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One bound on the bytes the process may still allocate, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub bytes: u64,
    pub source: String,
}

/// Limits at or above this are "unlimited" (cgroup v1 writes 2^63 rounded to a page).
const UNLIMITED: u64 = 1 << 62;

/// Every bound that can be read on this system, in no particular order.
pub fn bounds() -> Vec<Bound> {
    let mut out = Vec::new();
    if let Some(bytes) = meminfo_available() {
        out.push(Bound {
            bytes,
            source: "the machine's available memory (MemAvailable)".into(),
        });
    }
    out.extend(rlimit_bounds());
    out.extend(cgroup_bounds());
    out
}

/// The budget: the smallest bound, or `None` when nothing is known.
pub fn budget() -> Option<Bound> {
    bounds().into_iter().min_by_key(|b| b.bytes)
}

/// Refuses `needed` bytes for `what` when they exceed the budget, with [`Error::TooLarge`]
/// naming the size, the budget and its source, and `way_out` (what to do instead).
pub fn ensure_fits(what: &str, needed: u64, way_out: &str) -> Result<()> {
    ensure_fits_within(what, needed, way_out, None)
}

/// As [`ensure_fits`], with the caller's own cap (`max_bytes`) as one more bound.
pub fn ensure_fits_within(
    what: &str,
    needed: u64,
    way_out: &str,
    max_bytes: Option<u64>,
) -> Result<()> {
    let mut all = bounds();
    if let Some(cap) = max_bytes {
        all.push(Bound {
            bytes: cap,
            source: format!("max_bytes={cap}"),
        });
    }
    match all.into_iter().min_by_key(|b| b.bytes) {
        Some(b) if needed > b.bytes => Err(Error::TooLarge {
            what: what.to_string(),
            needed_bytes: needed,
            budget_bytes: Some(b.bytes),
            budget_source: b.source,
            alternative: way_out.to_string(),
        }),
        _ => Ok(()),
    }
}

/// `count` values of `T` filled with `fill`, checked against the budget first and allocated
/// fallibly: too large gives [`Error::TooLarge`], never an abort.
pub fn filled_vec<T: Clone>(count: usize, fill: T, what: &str, way_out: &str) -> Result<Vec<T>> {
    let needed = bytes_of::<T>(&[count]);
    ensure_fits(what, needed, way_out)?;
    let mut v = try_vec(count, what, way_out)?;
    v.resize(count, fill);
    Ok(v)
}

/// An empty vector with room for `count` values, reserved fallibly (no budget check: for
/// per-thread buffers whose total the caller has already checked).
pub fn try_vec<T>(count: usize, what: &str, way_out: &str) -> Result<Vec<T>> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(count).map_err(|_| Error::TooLarge {
        what: what.to_string(),
        needed_bytes: bytes_of::<T>(&[count]),
        budget_bytes: None,
        budget_source: "the allocator refused it".into(),
        alternative: way_out.to_string(),
    })?;
    Ok(v)
}

/// Bytes of an array of `T` with these dimensions, saturating at `u64::MAX`.
pub fn bytes_of<T>(dims: &[usize]) -> u64 {
    dims.iter()
        .fold(std::mem::size_of::<T>() as u128, |acc, &d| {
            acc.saturating_mul(d as u128)
        })
        .min(u64::MAX as u128) as u64
}

/// A byte count for people: "800 bytes", "12 MB", "5.1 GB" (decimal units).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return if bytes == 1 {
            "1 byte".into()
        } else {
            format!("{bytes} bytes")
        };
    }
    let mut value = bytes as f64;
    let mut unit = "";
    for u in UNITS {
        value /= 1000.0;
        unit = u;
        if value < 999.95 {
            break;
        }
    }
    if value < 9.95 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn meminfo_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    status_kib(&text, "MemAvailable:")
}

/// A `Name:   123 kB` field of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The soft limit of `resource`, when finite.
#[cfg(unix)]
#[allow(clippy::useless_conversion)] // rlim_t is u64 on most systems, not all.
fn soft_limit(resource: libc::c_int) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own; the resource is a valid id.
    let ok = unsafe { libc::getrlimit(resource as _, &mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    u64::try_from(limit.rlim_cur)
        .ok()
        .filter(|&b| b < UNLIMITED)
}

/// `RLIMIT_AS` less the virtual size and `RLIMIT_DATA` less the data size (what is in use is
/// read from `/proc/self/status`; without it the limit alone bounds the budget).
#[cfg(unix)]
fn rlimit_bounds() -> Vec<Bound> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = Vec::new();
    let pairs = [
        (
            libc::RLIMIT_AS,
            "VmSize:",
            "RLIMIT_AS (the address-space limit, ulimit -v)",
        ),
        (
            libc::RLIMIT_DATA,
            "VmData:",
            "RLIMIT_DATA (the data-size limit, ulimit -d)",
        ),
    ];
    for (resource, field, name) in pairs {
        if let Some(limit) = soft_limit(resource as libc::c_int) {
            let used = status_kib(&status, field).unwrap_or(0);
            out.push(Bound {
                bytes: limit.saturating_sub(used),
                source: format!(
                    "{name}: {} less {} in use",
                    human_bytes(limit),
                    human_bytes(used)
                ),
            });
        }
    }
    out
}

#[cfg(not(unix))]
fn rlimit_bounds() -> Vec<Bound> {
    Vec::new()
}

/// A cgroup hierarchy mounted on this system: where, from which root, which version.
struct CgroupMount {
    mount_point: PathBuf,
    root: String,
    v2: bool,
}

/// The cgroup v2 mount and the v1 mount of the memory controller, from `/proc/self/mountinfo`.
fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        // "id parent major:minor root mount_point options [optional...] - fstype source opts"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split_whitespace().collect();
        let tail: Vec<&str> = right.split_whitespace().collect();
        if fields.len() < 5 || tail.is_empty() {
            continue;
        }
        let v2 = tail[0] == "cgroup2";
        let v1_memory = tail[0] == "cgroup"
            && tail
                .get(2)
                .is_some_and(|o| o.split(',').any(|opt| opt == "memory"));
        if v2 || v1_memory {
            out.push(CgroupMount {
                mount_point: PathBuf::from(unescape_mount(fields[4])),
                root: unescape_mount(fields[3]),
                v2,
            });
        }
    }
    out
}

/// mountinfo escapes spaces, tabs, newlines and backslashes as octal (`\040`).
fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let code = &bytes[i + 1..i + 4];
            let octal = code.iter().all(|c| (b'0'..=b'7').contains(c));
            if let Some(v) = octal
                .then(|| u8::from_str_radix(std::str::from_utf8(code).ok()?, 8).ok())
                .flatten()
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The process's cgroup path for v2 (`0::/path`) or for v1's memory controller.
fn cgroup_path(cgroup: &str, v2: bool) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = if v2 {
            id == "0" && controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == "memory")
        };
        wanted.then(|| path.to_string())
    })
}

/// The directories of the process's cgroup and of its ancestors up to the mount point, deepest
/// first. A path outside the mounted root (a cgroup namespace seen from outside) or missing
/// from this mount (a container that mounts its own cgroup as the root) falls back to the
/// deepest directory that exists.
fn cgroup_dirs(mount: &CgroupMount, path: &str) -> Vec<PathBuf> {
    let root = mount.root.trim_end_matches('/');
    let relative = path
        .strip_prefix(root)
        .unwrap_or(path)
        .trim_start_matches('/');
    let mut dir = mount.mount_point.join(relative);
    let mut out = Vec::new();
    loop {
        if dir.is_dir() {
            out.push(dir.clone());
        }
        if dir == mount.mount_point || !dir.pop() || !dir.starts_with(&mount.mount_point) {
            break;
        }
    }
    out
}

fn read_number(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    if text == "max" {
        return Some(u64::MAX);
    }
    text.parse().ok()
}

/// Limit less usage of every memory cgroup the process is in (each level of the hierarchy).
fn cgroup_bounds() -> Vec<Bound> {
    let (Ok(mountinfo), Ok(cgroup)) = (
        std::fs::read_to_string("/proc/self/mountinfo"),
        std::fs::read_to_string("/proc/self/cgroup"),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for mount in cgroup_mounts(&mountinfo) {
        let Some(path) = cgroup_path(&cgroup, mount.v2) else {
            continue;
        };
        let (limit_file, usage_file, version) = if mount.v2 {
            ("memory.max", "memory.current", "cgroup v2 memory.max")
        } else {
            (
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "cgroup v1 memory.limit_in_bytes",
            )
        };
        for dir in cgroup_dirs(&mount, &path) {
            let Some(limit) = read_number(&dir.join(limit_file)) else {
                continue;
            };
            if limit >= UNLIMITED {
                continue;
            }
            let used = read_number(&dir.join(usage_file)).unwrap_or(0);
            out.push(Bound {
                bytes: limit.saturating_sub(used),
                source: format!(
                    "the {version} of {}: {} less {} in use",
                    dir.display(),
                    human_bytes(limit),
                    human_bytes(used)
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1), "1 byte");
        assert_eq!(human_bytes(800), "800 bytes");
        assert_eq!(human_bytes(12_000_000), "12 MB");
        assert_eq!(human_bytes(5_120_000_000), "5.1 GB");
        assert_eq!(human_bytes(999_999), "1.0 MB");
        assert_eq!(human_bytes(u64::MAX), "18 EB");
    }

    #[test]
    fn bytes_saturate() {
        assert_eq!(bytes_of::<f64>(&[3, 4]), 96);
        assert_eq!(bytes_of::<f64>(&[usize::MAX, usize::MAX]), u64::MAX);
    }

    #[test]
    fn a_cap_below_the_need_is_refused_with_its_source() {
        let err = ensure_fits_within("the thing", 2000, "do less", Some(1000)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("the thing would need 2.0 kB"), "{text}");
        assert!(text.contains("max_bytes=1000"), "{text}");
        assert!(text.contains("do less"), "{text}");
        assert!(ensure_fits_within("the thing", 1000, "", Some(1000)).is_ok());
    }

    #[test]
    fn nothing_fits_beyond_the_address_space() {
        assert!(matches!(
            ensure_fits("everything", u64::MAX, ""),
            Err(Error::TooLarge { .. })
        ));
        assert!(filled_vec(usize::MAX / 8, 0.0f64, "x", "").is_err());
    }

    #[test]
    fn mountinfo_and_cgroup_files_are_parsed() {
        let mountinfo = "\
25 30 0:22 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
26 30 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
27 30 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
28 30 0:25 /a\\040b /mnt/x\\040y rw - ext4 /dev/sda rw";
        let mounts = cgroup_mounts(mountinfo);
        assert_eq!(mounts.len(), 2);
        assert!(!mounts[0].v2 && mounts[1].v2);
        assert_eq!(
            mounts[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/memory")
        );
        assert_eq!(unescape_mount("/mnt/x\\040y"), "/mnt/x y");
        let cgroup = "12:memory:/job/7\n3:cpu:/\n0::/user.slice/x.scope\n";
        assert_eq!(cgroup_path(cgroup, false).as_deref(), Some("/job/7"));
        assert_eq!(
            cgroup_path(cgroup, true).as_deref(),
            Some("/user.slice/x.scope")
        );
    }

    #[test]
    fn cgroup_limits_are_read_up_the_hierarchy() {
        let base = std::env::temp_dir().join(format!("treelens-cgroup-{}", std::process::id()));
        let leaf = base.join("job").join("7");
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(base.join("memory.max"), "max\n").unwrap();
        std::fs::write(base.join("job").join("memory.max"), "1000000\n").unwrap();
        std::fs::write(base.join("job").join("memory.current"), "400000\n").unwrap();
        std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
        let mount = CgroupMount {
            mount_point: base.clone(),
            root: "/".into(),
            v2: true,
        };
        let dirs = cgroup_dirs(&mount, "/job/7");
        assert_eq!(dirs, vec![leaf.clone(), base.join("job"), base.clone()]);
        let job = &dirs[1];
        assert_eq!(read_number(&job.join("memory.max")), Some(1_000_000));
        assert_eq!(read_number(&leaf.join("memory.max")), Some(u64::MAX));
        // A path the mount does not hold falls back to the directories that exist.
        assert_eq!(cgroup_dirs(&mount, "/elsewhere/9"), vec![base.clone()]);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_knows_a_budget_below_its_available_memory() {
        let b = budget().expect("Linux has /proc/meminfo");
        let avail = meminfo_available().unwrap();
        assert!(b.bytes <= avail);
    }
}
