"""Backends: read a QGraph and a target, produce something that runs (C firmware, TVM module).

They never import torch, `models/` or capture code.
"""
