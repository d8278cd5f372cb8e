"""The classic Keras multi-label example and its Bayes-optimal reference."""
