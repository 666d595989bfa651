"""redemption package (see DESIGN.md)."""
