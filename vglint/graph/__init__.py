"""The graph front-end: build a model, record one forward pass, lower it to the same IR as the
static front-end, so that the same rules run on what the source cannot show (depth from a
config, layers from registries and factories). `record` imports torch and runs only in the
worker or for API callers; `lower` and `run` are torch-free."""
