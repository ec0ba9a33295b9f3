//! Test harness for kproducer (filled in by the foundation issue).
