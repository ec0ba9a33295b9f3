//! producer (in progress).
