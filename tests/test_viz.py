import numpy as np

from emberformer.viz import BURNED, HIT, NEW_FIRE, PREDICTED, fire_window, preview_image


def test_fire_window_frames_a_small_fire_and_stays_inside_the_image():
    fire = np.zeros((128, 100), dtype=np.float32)
    fire[120:124, 90:95] = 1
    rows, cols = fire_window(fire, margin=4, min_size=20)
    assert fire[rows, cols].sum() == fire.sum()  # the whole fire is in view
    assert rows.stop <= 128 and cols.stop <= 100
    assert rows.stop - rows.start == 20 and cols.stop - cols.start == 20


def test_fire_window_of_an_empty_image_is_the_whole_image():
    assert fire_window(np.zeros((30, 40))) == (slice(0, 30), slice(0, 40))


def panels(image: np.ndarray, count: int = 4) -> list[np.ndarray]:
    width = (image.shape[1] - 4 * (count - 1)) // count  # panels 4 px apart
    return [image[:, i * (width + 4): i * (width + 4) + width] for i in range(count)]


def test_preview_is_four_enlarged_panels_with_the_new_fire_in_orange():
    last = np.zeros((64, 64), dtype=np.float32)
    last[30:34, 30:34] = 1
    target = last.copy()
    target[30:34, 34:36] = 1
    image = preview_image(last, target, target * 0.9)
    assert image.dtype == np.uint8 and image.shape[0] >= 192
    truth = panels(image)[1]
    orange = (truth[..., 0] > 200) & (truth[..., 1] > 80) & (truth[..., 1] < 150) & (truth[..., 2] < 60)
    assert orange.any() and not orange[:, : truth.shape[1] // 3].any()


def test_errors_panel_colours_hits_misses_and_false_alarms_of_the_new_fire():
    last = np.zeros((48, 48), dtype=np.float32)
    last[20:24, 20:24] = 1  # burning already: never an outcome
    target = last.copy()
    target[20:24, 24:26] = 1  # new fire east: predicted (hit) on rows 20-21, missed on rows 22-23
    prob = last * 0.9
    prob[20:22, 24:26] = 0.8
    prob[20:24, 16:18] = 0.7  # west: a false alarm
    image = preview_image(last, target, prob, threshold=0.5, min_pixels=48)  # scale 1: pixels as drawn
    errors = panels(image)[3].astype(int)
    window = fire_window(last, target, prob)  # where the crop starts

    def colour(y, x):
        return tuple(errors[y - window[0].start, x - window[1].start])

    expected = {(20, 24): HIT, (22, 24): NEW_FIRE, (21, 16): PREDICTED, (21, 21): BURNED}
    for (y, x), rgb in expected.items():
        assert colour(y, x) == tuple(int(255 * c) for c in rgb), (y, x)
