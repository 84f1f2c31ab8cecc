"""matheval: evaluate math-reasoning models and inference-time agents, fast and reproducibly."""

__version__ = "0.1.0"
