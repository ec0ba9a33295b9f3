//! sender (in progress).
