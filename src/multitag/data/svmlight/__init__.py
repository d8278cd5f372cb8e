"""svmlight/libsvm multi-label and the Extreme Classification Repository format: whole-file
and chunked reading."""
