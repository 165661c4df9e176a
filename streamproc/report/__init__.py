"""``streamproc report``: a self-contained HTML report of a replayed events file.

:mod:`.collect` records each judged window while the events are replayed,
:mod:`.html` renders the page from that data, :mod:`.svg` draws its charts.
"""
