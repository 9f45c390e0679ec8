//! simulator (being built)
