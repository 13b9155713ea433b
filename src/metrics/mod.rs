//! See the project's DESIGN.md; filled in by its issue.
