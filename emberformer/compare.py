"""Every model of a sweep against persistence, mean ± std over seeds:
`python -m emberformer.compare outputs/multirun/<date>/<time> [split=test] [threshold=val_best]`.

The command lives in `emberformer.analysis.compare`.
"""

from emberformer.analysis.compare import main

if __name__ == "__main__":
    main()
