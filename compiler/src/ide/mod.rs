//! Editor features computed from an analysis: pure functions of the sources and the
//! latest [`crate::Analysis`], converted to the protocol by the language server.

pub mod complete;
