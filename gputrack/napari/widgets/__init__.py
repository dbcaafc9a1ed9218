"""Dock widgets: layout and parsing only; the work is done by gputrack's functions."""
