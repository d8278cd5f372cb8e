"""The pipeline: the one training entry point every command uses, model selection, compare,
learning curves and chunked prediction."""
