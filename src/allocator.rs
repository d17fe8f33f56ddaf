//! The allocator's settings. payglot allocates through mimalloc (src/main.rs). On Linux its
//! defaults commit each arena eagerly, and then the pages that freed records leave behind are
//! only reset, not returned: they stay in the process's resident memory. With the payment
//! index's generations of records coming and going, peak RSS under load was ≈ 40 % higher
//! than with arenas committed on demand, at no measurable CPU cost (BENCHMARKS.md).

/// mimalloc's `mi_option_arena_eager_commit` (the same index in its v2 and v3 option enums).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Makes "commit on demand" mimalloc's default. It must run before the first allocation, when
/// mimalloc reserves its first arena, so a binary calls it from a static constructor (see
/// src/main.rs), not from `main`. `MIMALLOC_ARENA_EAGER_COMMIT` in the environment still wins.
pub extern "C" fn set_defaults() {
    // SAFETY: changes one integer default in mimalloc's option table; it allocates nothing,
    // and any value is valid for this option.
    unsafe { libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0) }
}
