//! How much native stack the current thread has left, for recursion that must not overflow it.
//!
//! The JSON consumers recurse once per level of nesting (up to `json::MAX_DEPTH`, 256). On the main
//! thread that is nothing; but a Python thread can be made with `threading.stack_size(64 * 1024)`,
//! musl's default thread stack is 128 KiB, and an overflow kills the process. The scanner asks
//! `enough` every CHECK_EVERY levels and fails the document cleanly when the answer is no. (Growing
//! the stack on the heap, as `stacker::maybe_grow` can, was not chosen: the Python code a build calls,
//! such as `Message.__post_init__`, would then run on a stack CPython does not know, whose own
//! overflow check, from 3.12 on, compares addresses against the thread's real stack.)

/// Levels between two checks: a document at most this deep (every chat chunk) is never checked.
pub const CHECK_EVERY: u32 = 16;

/// What must be left at a check: CHECK_EVERY levels of the deepest consumer (the Python builder,
/// ~0.75 KiB a level) and what a leaf may call (CPython's allocator, a `__post_init__`), with margin.
const RED_ZONE: usize = 48 * 1024;

/// The thread has RED_ZONE bytes of native stack left (or the platform does not say: then yes).
#[inline(never)]
pub fn enough() -> bool {
    stacker::remaining_stack().is_none_or(|left| left >= RED_ZONE)
}
