"""vidbench: a benchmark and evaluation harness for video generation and video prediction."""

__version__ = "0.1.0"
