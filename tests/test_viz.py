import numpy as np

from emberformer.viz import fire_window, preview_panels


def test_fire_window_frames_a_small_fire_and_stays_inside_the_image():
    fire = np.zeros((128, 100), dtype=np.float32)
    fire[120:124, 90:95] = 1
    rows, cols = fire_window(fire, margin=4, min_size=20)
    assert fire[rows, cols].sum() == fire.sum()  # the whole fire is in view
    assert rows.stop <= 128 and cols.stop <= 100
    assert rows.stop - rows.start == 20 and cols.stop - cols.start == 20


def test_fire_window_of_an_empty_image_is_the_whole_image():
    assert fire_window(np.zeros((30, 40))) == (slice(0, 30), slice(0, 40))


def test_preview_is_three_enlarged_panels_with_the_new_fire_in_orange():
    last = np.zeros((64, 64), dtype=np.float32)
    last[30:34, 30:34] = 1
    target = last.copy()
    target[30:34, 34:36] = 1
    image = preview_panels(last, target, target * 0.9)
    assert image.dtype == np.uint8 and image.shape[0] >= 192
    panel = (image.shape[1] - 8) // 3
    truth = image[:, panel + 4: 2 * panel + 4]
    orange = (truth[..., 0] > 200) & (truth[..., 1] > 80) & (truth[..., 1] < 150) & (truth[..., 2] < 60)
    assert orange.any() and not orange[:, : truth.shape[1] // 3].any()
