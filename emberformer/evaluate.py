"""Evaluate a checkpoint on a split, next to persistence:
`python -m emberformer.evaluate ckpt=outputs/<date>/<time>/checkpoints/best.pt split=test`.

The command lives in `emberformer.analysis.evaluate`.
"""

from emberformer.analysis.evaluate import main

if __name__ == "__main__":
    main()
