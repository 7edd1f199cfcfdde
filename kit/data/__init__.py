"""Training data (the paper's released math sets) and the shipped fixtures."""
