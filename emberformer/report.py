"""A self-contained HTML report of a training run, offline, from its folder alone:
`python -m emberformer.report outputs/<date>/<time> [--out report.html]`.

The command lives in `emberformer.analysis.report`.
"""

from emberformer.analysis.report import main

if __name__ == "__main__":
    main()
