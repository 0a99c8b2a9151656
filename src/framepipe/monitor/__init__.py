"""HTTP stats endpoint."""
