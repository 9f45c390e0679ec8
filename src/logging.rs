//! logging (being built)
