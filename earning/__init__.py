"""earning package (see DESIGN.md)."""
