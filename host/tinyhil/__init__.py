"""tinyhil: LLM-guided TinyML architecture search, measured on microcontrollers."""

__version__ = "0.1.0"
