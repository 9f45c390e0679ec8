//! exit (being built)
