"""Features: the `Preprocessor`, fitted on training data and saved with the model (no torch)."""
