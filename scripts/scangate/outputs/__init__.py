"""Converters from a gate result to the formats people and platforms read."""
