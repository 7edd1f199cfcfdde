"""Replication kit for "Does Math Reasoning Improve General LLM Capabilities?" (arXiv 2507.00432)."""

__version__ = "0.1.0"
