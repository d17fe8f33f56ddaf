//! The allocator. payglot allocates through mimalloc (glibc malloc was ≈ 15 % of the proxy's
//! CPU per request under load). On Linux mimalloc's defaults commit each arena eagerly, and the
//! pages freed by the payment index's generations of records then stayed resident: peak RSS
//! under load was ≈ 40 % higher than with arenas committed on demand, at no measurable CPU
//! cost (BENCHMARKS.md).

/// mimalloc's `mi_option_arena_eager_commit` (the same index in its v2 and v3 option enums).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Makes mimalloc, with payglot's settings, a binary's global allocator: `use_allocator!();`
/// at the top level of the binary's crate.
#[macro_export]
macro_rules! use_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::MiMalloc = $crate::allocator::MiMalloc;

        // Runs before anything allocates: static constructors run before Rust's runtime
        // starts, and so before mimalloc reserves its first arena.
        #[cfg(target_os = "linux")]
        #[used]
        #[unsafe(link_section = ".init_array")]
        static ALLOCATOR_DEFAULTS: extern "C" fn() = $crate::allocator::set_defaults;
    };
}

pub use mimalloc::MiMalloc;

/// Makes "commit on demand" mimalloc's default. It must run before the first allocation, when
/// mimalloc reserves its first arena, so [`use_allocator!`] calls it from a static
/// constructor, not from `main`. `MIMALLOC_ARENA_EAGER_COMMIT` in the environment still wins.
pub extern "C" fn set_defaults() {
    // SAFETY: changes one integer default in mimalloc's option table; it allocates nothing,
    // and any value is valid for this option.
    unsafe { libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0) }
}
