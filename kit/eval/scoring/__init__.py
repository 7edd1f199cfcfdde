"""Scorers shared by benchmarks and rewards."""
