"""The training loop (loop.py), the stages of a run around it (run.py), and what they call:
optimizer, early stopping, hardware, checkpoints, W&B logging, torch.distributed."""
