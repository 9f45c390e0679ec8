//! cmd (being built)
