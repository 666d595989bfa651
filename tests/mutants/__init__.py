"""The mutant catalogue and its runner (`make mutate`); see catalogue.toml."""
