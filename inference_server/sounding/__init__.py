"""Sounding: interactive object-aware image-to-audio generation (inference server, model, training)."""

__version__ = "0.1.0"
