"""Animated GIFs, encoded with Pillow: `rllab enjoy` writes them to files and TensorBoard's image dashboard plays
them (`Run.animation`; `SummaryWriter.add_video` would need moviepy < 2)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def encode_gif(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """RGB frames (H, W, 3) uint8 as a GIF that loops.

    All frames share one palette, made from a sample of them: each frame is then a nearest-colour lookup, about
    ten times faster than the adaptive palette Pillow would compute for every frame (the rendered scenes of
    environments have few colours)."""
    sample = np.concatenate([np.asarray(f)[::2, ::2] for f in frames[:: max(1, len(frames) // 6)]])
    palette = Image.fromarray(sample).quantize(colors=255, method=Image.Quantize.FASTOCTREE)
    images = [Image.fromarray(np.asarray(f)).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    out = io.BytesIO()
    # GIF delays are in 10 ms units, and browsers play delays under 20 ms at 100 ms: never go below 20.
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, round(1000 / fps, -1)))
    return out.getvalue()
