"""Animated GIFs, encoded with Pillow: `rllab enjoy` writes them to files and TensorBoard's image dashboard plays
them (`Run.animation`; `SummaryWriter.add_video` would need moviepy < 2)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def encode_gif(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """Frames (H, W, 3) or (H, W), uint8, as a GIF that loops."""
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    out = io.BytesIO()
    # GIF delays are in 10 ms units, and browsers play delays under 20 ms at 100 ms: never go below 20.
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, round(1000 / fps, -1)))
    return out.getvalue()
