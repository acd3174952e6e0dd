"""Benchmarks: this integration against spherov2 on the same simulated BB-8 link (issue 7).

Run ``scripts/bench`` (or ``python -m bench``); it writes ``docs/bench.md`` and
``docs/bench.png``. The pieces: :mod:`bench.vloop` (an event loop that skips idle time),
:mod:`bench.rig` (the shared link settings and the instruments), one module per side
(:mod:`bench.spherov2_side`, :mod:`bench.session_side`, :mod:`bench.ha_side`),
:mod:`bench.runner` (one run, in order) and :mod:`bench.report` (tables, targets, plot).
"""
