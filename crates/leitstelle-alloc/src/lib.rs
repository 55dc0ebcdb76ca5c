//! The global allocator of the `leitstelle` binary, and its one tuning knob.
//!
//! mimalloc, not the system allocator: the server parses, matches and frees many small values
//! on several threads, where glibc's malloc spent a fifth of the time (profile in the server
//! issue's notes).
//!
//! This is the only crate of the workspace that may use `unsafe`, for one FFI call into
//! mimalloc's option API ([`return_freed_memory_promptly`]); the `mimalloc` crate has no safe
//! wrapper for it, and an environment variable cannot be set from inside the process soundly.

/// The allocator type, for `#[global_allocator]` in the binary.
pub use mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`, v3): how long freed pages stay committed
/// before they are returned to the OS, in milliseconds. `libmimalloc-sys` names the options
/// around it but not this one.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Returns freed pages to the OS as soon as they are free (mimalloc's purge delay 0; its
/// default keeps them for a second).
///
/// For short runs such as `leitstelle hunt`: compiling the rules and building each logsource's
/// automata allocate tens of MB that are freed again within the second, and with the default
/// delay all of it still counts in the process's peak memory (hunt over the EVTX samples:
/// about 125 MB with the default, 95 MB with this). Costs an `madvise` per freed page run,
/// which is not measurable in the hunt.
pub fn return_freed_memory_promptly() {
    // SAFETY: `mi_option_set` only stores the value in mimalloc's option table (an atomic
    // store); it takes no pointers and any value is valid for this option.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// The current purge delay (for tests).
pub fn purge_delay_ms() -> i64 {
    // SAFETY: `mi_option_get` only reads mimalloc's option table.
    #[allow(unsafe_code)]
    let v = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
    #[allow(clippy::useless_conversion)] // `c_long` is `i32` on some targets
    i64::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_number_is_the_purge_delay() {
        // mimalloc v3's default purge delay is 1000 ms (v2's was 10): if the enum moved, the
        // number would name another option with another default.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), 1000);
        }
        return_freed_memory_promptly();
        assert_eq!(purge_delay_ms(), 0);
    }
}
