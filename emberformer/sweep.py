"""Rank the jobs of a `--multirun` sweep: `python -m emberformer.sweep outputs/multirun/<date>/<time>`.

The command lives in `emberformer.analysis.sweep`.
"""

from emberformer.analysis.sweep import main

if __name__ == "__main__":
    main()
