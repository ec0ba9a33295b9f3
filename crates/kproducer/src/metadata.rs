//! Cluster metadata (in progress).
