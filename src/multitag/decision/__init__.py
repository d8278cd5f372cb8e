"""Decision rules (probabilities -> 0/1 label sets), their tuning and their selection (numpy)."""
