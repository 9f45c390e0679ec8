//! input (being built)
