"""Mulan and MEKA ARFF: header, body, label detection, whole-file and chunked reading."""
