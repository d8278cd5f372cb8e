"""Serving a saved model over HTTP and exporting it to ONNX (optional extras)."""
