"""vglint: find vanishing-gradient risks in PyTorch model code before training, and prove them."""

__version__ = "0.1.0"
