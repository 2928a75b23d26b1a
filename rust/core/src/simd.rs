//! Which compiled kernel the hot loops run: the widest instruction set this CPU supports, or the
//! one the environment variable `TREELENS_SIMD` names (read once, the first time it is needed).
//!
//! Every kernel computes the same operations in the same order (no fused multiply-add, no
//! reassociation), so all of them give the same bits; forcing one lets tests check that on a
//! single machine. Nothing is compiled for the build machine's CPU: the wider kernels are
//! `#[target_feature]` functions chosen here at run time.

use std::sync::OnceLock;

/// The environment variable that forces a kernel: `auto` (or unset), `avx512`, `avx2`,
/// `portable`.
pub const ENV_VAR: &str = "TREELENS_SIMD";

/// A compiled variant of the hot loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 F/VL/BW, with AVX2 and FMA (x86_64).
    Avx512,
    /// AVX2 with FMA (x86_64).
    Avx2,
    /// Whatever the target guarantees (SSE2 on x86_64; any other architecture).
    Portable,
}

impl Kernel {
    /// Every kernel, widest first.
    pub const ALL: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2, Kernel::Portable];

    /// The name `TREELENS_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn supported(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                Kernel::Avx2.supported()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// The kernels this CPU supports, widest first.
pub fn supported() -> Vec<Kernel> {
    Kernel::ALL.into_iter().filter(|k| k.supported()).collect()
}

/// The widest kernel this CPU supports.
pub fn widest() -> Kernel {
    supported()[0]
}

/// The kernel `value` (of `TREELENS_SIMD`) asks for; an unknown name or a kernel this CPU
/// cannot run is an error that says what is accepted.
pub fn parse(value: &str) -> Result<Kernel, String> {
    let name = value.trim().to_ascii_lowercase();
    if name.is_empty() || name == "auto" {
        return Ok(widest());
    }
    let Some(kernel) = Kernel::ALL.into_iter().find(|k| k.name() == name) else {
        return Err(format!(
            "{ENV_VAR}={value:?} is not a kernel: use auto, avx512, avx2 or portable"
        ));
    };
    if !kernel.supported() {
        let names: Vec<&str> = supported().iter().map(|k| k.name()).collect();
        return Err(format!(
            "{ENV_VAR}={value:?} asks for a kernel this CPU cannot run; it can run: auto, {}",
            names.join(", ")
        ));
    }
    Ok(kernel)
}

static CHOICE: OnceLock<Result<Kernel, String>> = OnceLock::new();

/// The kernel `TREELENS_SIMD` chose (read once), or why its value is refused.
pub fn choice() -> Result<Kernel, String> {
    CHOICE
        .get_or_init(|| match std::env::var(ENV_VAR) {
            Ok(value) => parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(widest()),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "{ENV_VAR} is not valid Unicode: use auto, avx512, avx2 or portable"
            )),
        })
        .clone()
}

/// The kernel the hot loops run. When `TREELENS_SIMD` is refused (the Python module will not
/// import then, see [`choice`]), the widest supported one: a kernel this CPU cannot run is
/// never returned.
#[inline]
pub fn kernel() -> Kernel {
    match CHOICE.get() {
        Some(Ok(k)) => *k,
        _ => choice().unwrap_or_else(|_| widest()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_or_unsupported_kernels_are_refused() {
        assert_eq!(parse("portable"), Ok(Kernel::Portable));
        assert_eq!(parse(" Portable "), Ok(Kernel::Portable));
        assert_eq!(parse("auto"), Ok(widest()));
        assert_eq!(parse(""), Ok(widest()));
        let err = parse("sse9").unwrap_err();
        assert!(err.contains("is not a kernel") && err.contains("avx512, avx2 or portable"));
        for k in Kernel::ALL {
            match parse(k.name()) {
                Ok(got) => assert!(got == k && k.supported()),
                Err(e) => assert!(!k.supported() && e.contains("cannot run"), "{e}"),
            }
        }
        assert_eq!(supported().last(), Some(&Kernel::Portable));
        assert!(kernel().supported());
    }
}
