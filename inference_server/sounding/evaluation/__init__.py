"""The judge (an audio classifier trained on real recordings) and the ACC metric built on it."""
