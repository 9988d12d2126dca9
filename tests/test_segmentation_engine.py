"""Exact masks sent by a client bypass segmentation; clicks go to the segmenter."""
import numpy as np

from sounding.engine import Engine, ObjectMask, ObjectPrompt


class CountingSegmenter:
    def __init__(self):
        self.calls = 0

    def segment(self, image, points, labels):
        self.calls += 1
        return ObjectMask(mask=np.ones(image.shape[:2], bool), score=0.5)


def engine():
    return Engine(generator=None, segmenter=CountingSegmenter())


def test_exact_mask_bypasses_the_segmenter():
    eng = engine()
    image = np.zeros((8, 10, 3), np.uint8)
    exact = np.zeros((8, 10), bool)
    exact[2:4, 3:7] = True
    # points are present too: the exact mask still wins and the segmenter is never called
    prompt = ObjectPrompt(points=np.array([[1.0, 1.0]]), labels=np.array([1]), mask=exact)
    (result,) = eng.segment(image, [prompt])
    assert eng.segmenter.calls == 0
    assert result.score == 1.0 and np.array_equal(result.mask, exact)


def test_clicks_go_to_the_segmenter_once_per_object():
    eng = engine()
    image = np.zeros((8, 10, 3), np.uint8)
    prompts = [ObjectPrompt(points=np.array([[1.0, 1.0]])), ObjectPrompt(mask=np.zeros((8, 10), bool)),
               ObjectPrompt(points=np.array([[2.0, 2.0], [5.0, 5.0]]), labels=np.array([1, 0]))]
    results = eng.segment(image, prompts)
    assert eng.segmenter.calls == 2 and len(results) == 3
