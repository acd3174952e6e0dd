"""``python -m bench``: run the benchmarks, print the report, write docs/bench.md and the plot."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
