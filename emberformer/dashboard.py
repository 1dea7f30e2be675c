"""The training guide's recommended W&B dashboard as a saved W&B workspace:
`python -m emberformer.dashboard wandb.project=emberformer [wandb.entity=...]`.

The command lives in `emberformer.analysis.dashboard`.
"""

from emberformer.analysis.dashboard import main

if __name__ == "__main__":
    main()
