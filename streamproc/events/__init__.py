"""The public shapes of the event stream: inference events, labels, alerts.

Pure (no I/O): :mod:`.shapes` (markers and rejections), :mod:`.validate` (the
reference decoding and validation of one record), :mod:`.columns` (valid events
of one model as columns), :mod:`.alerts` (the alert event). Decoding batches
of records fast is :func:`streamproc.decode.decode_batch`.
"""
