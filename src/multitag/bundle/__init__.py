"""The model directory: save/load (safetensors + JSON), its checks, and applying it."""
