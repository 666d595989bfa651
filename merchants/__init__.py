"""merchants package (see DESIGN.md)."""
