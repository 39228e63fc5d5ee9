"""Building users' models for the probe, safely.

`defonly` imports only a file's definitions (never its training loop), `inputs` synthesises a
forward input, `worker` builds and measures models in a child process, and `pool` runs that child
from the parent with a time and memory cap. Only `worker` and `inputs` import torch, and only in the child.
"""
