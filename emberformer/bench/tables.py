"""python -m emberformer.bench [mode=step|data|loop|all] ...: the tables it prints.

One `format_<mode>(result)` per mode (FORMATS) and, for mode=all, `format_summary(results)`.
"""

from __future__ import annotations


def _memory(result: dict) -> str:
    return (f"peak GPU memory {result['peak_gpu_gb']:.2f} GB" if "peak_gpu_gb" in result
            else f"peak RSS {result['peak_rss_gb']:.2f} GB")


def _loader_line(hw: dict) -> str:
    return (f"hardware={hw['preset']}: batch {hw['batch_size']}, {hw['num_workers']} workers, "
            f"pin_memory {str(hw['pin_memory']).lower()}, persistent_workers {str(hw['persistent_workers']).lower()}")


def format_step(result: dict) -> str:
    ms = result["ms"]
    shape = result["shape"]
    paths = [result["precision"]] + [name for name in ("compile", "channels_last") if result[name]]
    split = ("split not measured (compiled)" if ms is None else
             f"temporal {ms['temporal']:.0f} ms, spatial {ms['spatial']:.0f} ms, "
             f"loss+optimizer {ms['loss_optimizer']:.0f} ms")
    return (
        f"[step] {result['model']} | {result['params'] / 1e6:.2f}M params | {result['device']}, "
        f"{result['threads']} threads, {'+'.join(paths)} | "
        f"batch {shape['batch']} x T={shape['T']} x {shape['height']}x{shape['width']}\n"
        f"median {result['median_s_per_step']:.3f} s/step ({result['samples_per_s']:.2f} samples/s, "
        f"{result['median_cpu_s_per_step']:.3f} CPU s/step) | {split} | {_memory(result)}"
    )


def format_data(result: dict) -> str:
    data = result["data"]
    lines = [
        (f"[data] {data['root']} | {data['train_samples']} train samples, max_history {data['max_history']}\n"
         f"  {_loader_line(result['hardware'])}"),
        (f"  DataLoader, cache    {result['loader_samples_per_s']:9.1f} samples/s | "
         f"{result['ms_per_batch']:.1f} ms/batch over {result['batches']} batches, {result['epochs']} epochs "
         f"(slowest {result['max_batch_ms']:.0f} ms; "
         f"first batch after {result['first_batch_s']:.2f} s)"),
    ]
    if "io" in result:
        io = result["io"]
        lines += [
            (f"  one process, cache   {io['cache_samples_per_s']:9.1f} samples/s | "
             f"{io['cache_collated_samples_per_s']:.1f} collated into batches"),
            (f"  one process, PNGs    {io['png_samples_per_s']:9.1f} samples/s | the cache is {io['speedup']:.1f}x "
             f"faster ({io['samples']} samples, mean history {io['mean_history']})"),
        ]
    return "\n".join(lines)


def format_loop(result: dict) -> str:
    hw, data = result["hardware"], result["data"]
    return "\n".join([
        (f"[loop] {result['model']} | {result['params'] / 1e6:.2f}M params | {result['device']}, {hw['device']}, "
         f"{hw['precision']}, {result['threads']} threads | loss {result['loss']}"),
        f"  {_loader_line(hw)} | {data['train_samples']} train samples, max_history {data['max_history']}",
        f"  steps                {result['steps']} after {result['warmup']} warm-up, {result['epochs']} epochs",
        (f"  ms/step              median {result['median_ms_per_step']:.1f}, mean {result['mean_ms_per_step']:.1f} "
         f"(median CPU {result['median_cpu_ms_per_step']:.1f} ms)"),
        f"  samples/s            {result['samples_per_s']:.1f}",
        (f"  waiting for data     {100 * result['data_wait_share']:.1f}% of step time "
         f"(median {result['median_wait_ms']:.1f} ms, max {result['max_wait_ms']:.0f} ms per batch)"),
        f"  wall                 {result['wall_s']:.1f} s (warm-up and epoch ends included) | {_memory(result)}",
    ])


def format_summary(results: dict) -> str:
    """mode=all: one row per mode that ran (samples/s, ms/step, what it timed)."""
    rows = [("mode", "samples/s", "ms/step", "")]
    if "data" in results:
        r = results["data"]
        rows.append(("data", f"{r['loader_samples_per_s']:.1f}", f"{r['ms_per_batch']:.1f}",
                     "the DataLoader alone, per batch"))
    if "loop" in results:
        r = results["loop"]
        rows.append(("loop", f"{r['samples_per_s']:.1f}", f"{r['mean_ms_per_step']:.1f}",
                     f"real training, {100 * r['data_wait_share']:.1f}% of it waiting for data"))
    if "step" in results:
        r = results["step"]
        rows.append(("step", f"{r['samples_per_s']:.2f}", f"{1e3 * r['median_s_per_step']:.1f}",
                     "one train step on a synthetic batch"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}".rstrip() for a, b, c, d in rows)


FORMATS = {"step": format_step, "data": format_data, "loop": format_loop}
