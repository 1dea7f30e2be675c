"""The pieces the training loop calls: optimizer, early stopping, hardware, checkpoints, logging."""
