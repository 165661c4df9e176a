"""Bytes of one model's checkpoint (20 features: 16 numeric, 4 categorical) at several moments."""

import pickle
import time
from collections import Counter

from streamproc.detect.monitor import ModelMonitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import columns_by_model
from streamproc.labels.pending import JoinSettings, ModelJoin
from streamproc.simulate import wide_events
from streamproc.stream.checkpoint import encode, snapshot


def size(model, join=None):
    t = time.perf_counter()
    n = len(encode(snapshot("m", 0, 1, 0, monitor=model, join=join, now=0.0)))
    return n, (time.perf_counter() - t) * 1000


events = wide_events(events=60_000, models=1, seed=3)
model = ModelMonitor("m0", Settings())
join = ModelJoin("m0", JoinSettings(), Counter())
done = 0
for stop in (1_999, 3_000, 10_000, 60_000):
    for c in columns_by_model(events[done:stop], default_timestamp=0.0):
        model.update(c, now=0.0)
        join.add(c)
    done = stop
    n, ms = size(model)
    nj, msj = size(model, join)
    raw = len(pickle.dumps(model, protocol=5))
    print(
        f"after {stop:>6} events: monitor {n / 1024:6.1f} KiB"
        f" ({raw / 1024:6.1f} KiB before zlib, {ms:.2f} ms);"
        f" with {len(join.index)} pending predictions {nj / 1024:7.1f} KiB ({msj:.1f} ms)"
    )
