"""Probe mode: measure the gradient flow of a built model (torch is imported only by `vglint.probing.measure`)."""
