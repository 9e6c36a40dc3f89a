// Filled by later issues; see docs/ARCHITECTURE.md.
