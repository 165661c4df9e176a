from streamproc.decode.pool import DecoderPool, decode_values  # noqa: F401 (moved; for one release)
