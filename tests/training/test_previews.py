"""val/preview: the validation samples with the most new fire, drawn with the model's hits and errors."""

import numpy as np

from emberformer import config as config_lib
from emberformer.contract import build_model
from emberformer.data import FireSpreadData
from emberformer.training.hardware import Hardware
from emberformer.training.loop import preview_samples, val_previews
from emberformer.viz import PREVIEW_LEGEND


def test_previews_show_the_samples_with_the_most_new_fire_every_epoch(make_spreads, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBERFORMER_CACHE", str(tmp_path / "cache"))
    root = make_spreads(lengths=(4, 7, 5), sizes=((20, 24),), distinct_isochrones=True)
    data = FireSpreadData(str(root), val_fraction=0, test_fraction=0).setup()
    ds, cache = data.dataset("train"), data.cache
    truth = []
    for i in range(len(ds)):  # the newly burned area, from the unpacked masks
        pos, _, t = ds.locate(i)
        last, target = cache.fire(pos, t, t + 1)[0], cache.isochrones(pos, t + 1, t + 2)[0]
        truth.append(int(((target == 1) & (last == 0)).sum()))
    assert [ds.newly_burned(i) for i in range(len(ds))] == truth

    picks = preview_samples(ds, 3)
    assert [truth[i] for i in picks] == sorted(truth, reverse=True)[:3]
    assert picks == preview_samples(ds, 3)  # the same samples every epoch

    model = build_model(config_lib.compose(["model=emberformer_tiny", "model.patch_size=8"]).model, data.inputs)
    images, captions = val_previews(model, ds, picks, data.to_device("cpu"), data.collate, Hardware(device="cpu"),
                                    threshold=0.5)
    assert len(images) == 3 and all(image.dtype == np.uint8 and image.shape[0] >= 192 for image in images)
    for i, caption in zip(picks, captions, strict=True):
        assert f"{truth[i]} px newly burned" in caption and caption.endswith(PREVIEW_LEGEND)
    assert val_previews(model, ds, [], data.to_device("cpu"), data.collate, Hardware(device="cpu"),
                        threshold=0.5) == ([], [])


def test_previews_of_different_sizes_are_logged_at_one_size(tmp_path, caplog):
    # Each preview is cropped to its fire, so sizes differ; W&B wants one size per image list.
    from PIL import Image

    from emberformer.training.wandb_logger import WandbLogger

    logger = WandbLogger(project="t", mode="offline")
    logger.start(tmp_path, {"a": 1})
    small, large = np.zeros((192, 400, 3), np.uint8), np.zeros((240, 520, 3), np.uint8)
    try:
        with caplog.at_level("WARNING"):
            logger.log_images("val/preview", [small, large], ["a", "b"], step=1, epoch=1)
    finally:
        logger.finish()
    assert not any("sizes do not match" in r.getMessage() for r in caplog.records)
    sizes = {Image.open(p).size for p in (tmp_path / "previews").glob("*.png")}
    assert sizes == {(520, 240)}
    first = np.asarray(Image.open(tmp_path / "previews" / "epoch_001_0.png"))
    assert (first[:192, :400] == 0).all() and (first[192:] == 255).all()  # padded in white, not stretched
