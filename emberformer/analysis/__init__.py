"""The commands that look at finished runs, and what they share.

Commands (each also `python -m emberformer.<name>`; they never import each other):
- `evaluate`: score a checkpoint on a split next to persistence;
- `predict`: forecast one sequence several steps ahead from the model's own output;
- `compare`: every model of a sweep against persistence, mean ± std over seeds;
- `sweep`: rank the jobs of a `--multirun` sweep, with a heatmap and curves;
- `report`: a self-contained HTML report of one training run;
- `dashboard`: save the recommended W&B workspace.

Library modules, shared by the commands:
- `trained`: a trained model and its data, loaded from a checkpoint;
- `metrics`: AP, calibration, the val-best threshold, newly burned labels (`FireEvaluation`);
- `scoring`: the evaluation passes and the result files they write (`evaluate`);
- `tables`: the markdown and HTML tables of evaluation and forecast results;
- `runs`: reading the folders training leaves (metrics.jsonl, sweeps and their jobs);
- `panels`: the six dashboard panels, drawn by W&B and by the offline report.
"""
