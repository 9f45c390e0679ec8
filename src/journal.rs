//! journal (being built)
