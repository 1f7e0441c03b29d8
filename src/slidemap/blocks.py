"""Blocked processing plan: which windows each output block computes, reads and blends.

Whole-scene prediction keeps the window layout of the whole scene
(:func:`slidemap.infer.layout`) and cuts only the *output* into blocks. For
each block, in row-major order:

* ``blend``: every window overlapping the block's core (the output pixels it
  writes). Blending them gives exactly what predicting the scene at once
  gives there: blocks leave no seams.
* ``compute``: the windows of ``blend`` that no earlier block computed. Each
  window is run once; a window also needed by a later block (it straddles
  the right or bottom edge of the core) is kept until its last block.
* ``read``: the pixels to read, the core plus the windows to compute. The
  computed windows start inside the core (or in the mirrored margin before
  the image's first row or column), so the halo lies to the right and below,
  narrower than one window, plus the margin at the image's top and left
  edges. Pixels outside the image are mirrored by the reader.
* ``release``: windows that no later block needs.

Peak memory is the block's read box plus the kept windows along the bottom
edge of one block row, whatever the scene height.
"""

from __future__ import annotations

from dataclasses import dataclass

from slidemap.errors import SlidemapError
from slidemap.infer import Layout
from slidemap.tiling import Window


@dataclass(frozen=True)
class BlockPlan:
    """One output block (see module docstring); window indices refer to ``Layout.windows``."""

    core: Window
    read: Window
    compute: tuple[int, ...]
    blend: tuple[int, ...]
    release: tuple[int, ...]


def _axis_blocks(offset: int, length: int, limit: int, block: int) -> range:
    """Indices of the ``block``-long cores (over ``[0, limit)``) that ``[offset, offset+length)``
    overlaps (the window may reach into the mirrored margin on either side)."""
    first = max(offset, 0)
    last = min(offset + length, limit) - 1
    return range(first // block, last // block + 1)


def plan_blocks(lay: Layout, block: int) -> list[BlockPlan]:
    """Cut the image of ``lay`` into ``block`` × ``block`` output blocks (row-major).

    Args:
        lay: the whole scene's window layout.
        block: core side in pixels; at least the window side.

    Raises:
        SlidemapError: ``block`` smaller than the window.
    """
    if block < lay.window:
        raise SlidemapError(f"--block ({block}) must be at least --window ({lay.window})")
    n_rows = -(-lay.height // block)
    n_cols = -(-lay.width // block)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    blend: list[list[int]] = [[] for _ in range(n_rows * n_cols)]
    for index, win in enumerate(lay.windows):
        rows = _axis_blocks(win.row_off, win.height, lay.height, block)
        cols = _axis_blocks(win.col_off, win.width, lay.width, block)
        first[index] = rows[0] * n_cols + cols[0]
        last[index] = rows[-1] * n_cols + cols[-1]
        for r in rows:
            for c in cols:
                blend[r * n_cols + c].append(index)
    by_first: dict[int, list[int]] = {}
    by_last: dict[int, list[int]] = {}
    for index in first:
        by_first.setdefault(first[index], []).append(index)
        by_last.setdefault(last[index], []).append(index)
    plans = []
    for b in range(n_rows * n_cols):
        r, c = divmod(b, n_cols)
        core = Window(
            r * block,
            c * block,
            min(block, lay.height - r * block),
            min(block, lay.width - c * block),
        )
        compute = tuple(by_first.get(b, ()))
        boxes = [core, *(lay.windows[i] for i in compute)]
        top = min(w.row_off for w in boxes)
        left = min(w.col_off for w in boxes)
        bottom = max(w.row_off + w.height for w in boxes)
        right = max(w.col_off + w.width for w in boxes)
        plans.append(
            BlockPlan(
                core=core,
                read=Window(top, left, bottom - top, right - left),
                compute=compute,
                blend=tuple(blend[b]),
                release=tuple(by_last.get(b, ())),
            )
        )
    return plans
