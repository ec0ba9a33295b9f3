//! accumulator (in progress).
