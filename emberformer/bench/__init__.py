"""python -m emberformer.bench [mode=step|data|loop|all] [key=value ...]

Benchmarks of the training path (BENCHMARKS.md holds the figures):

    python -m emberformer.bench model.name=emberformer batch=4 size=416 patch=16 T=6 threads=2 steps=5
    python -m emberformer.bench mode=data hardware=cpu [data.root=DIR] [io_samples=200]
    python -m emberformer.bench mode=loop hardware=cpu steps=200 [model.name=PRESET] [model.key=value ...]
    python -m emberformer.bench mode=all out=bench.json
    python -m emberformer.bench.io [root=]DIR samples=300
    python -m emberformer.bench.gpu_check [dry=false] [scale_root=DIR]     # or: make gpu-check

`python -m emberformer.bench --help` lists every argument. Modules: cli.py (arguments, modes,
`run_cli`), step.py (mode=step), data.py (mode=data and the DataLoader timing), loop.py
(mode=loop), io.py (cache vs PNG decoding), gpu_check.py (the one-command GPU check and its
BENCHMARKS.md rows; a CPU dry run without a GPU), tables.py (the printed tables), common.py (model
building from conf/model presets, peak memory, device names).
"""
