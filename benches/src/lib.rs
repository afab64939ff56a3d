//! Ferrovox benchmarks and load tools.
