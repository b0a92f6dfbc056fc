"""datagen: synthetic instruction data from teacher to tuned, scored model."""

__version__ = "0.1.0"
