"""Thin click commands over library functions. Keep heavy imports inside the command bodies."""
