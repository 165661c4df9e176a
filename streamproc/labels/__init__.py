"""Ground truth in the stream: label records decoded (:mod:`.decode`) and joined
to their predictions (:mod:`.join`), no I/O.

The worker (:mod:`streamproc.stream.labels`) and ``streamproc replay
--labels`` hand the joined pairs, :class:`~streamproc.events.labels.LabelledPredictions`,
to :meth:`streamproc.detect.monitor.Monitor.process_labels`.
"""

from streamproc.labels.decode import LabelRows, decode_labels
from streamproc.labels.join import UNMATCHED_REASONS, JoinSettings, LabelJoin

__all__ = ["LabelRows", "decode_labels", "JoinSettings", "LabelJoin", "UNMATCHED_REASONS"]
