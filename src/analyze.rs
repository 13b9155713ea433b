//! Paths → reports.
