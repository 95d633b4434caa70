"""Tuned recipes, one TOML file per (environment, algorithm); shipped as package data."""
