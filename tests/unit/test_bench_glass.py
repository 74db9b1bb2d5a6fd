"""The glass bench's stamped frames read back as the stamp they show (what the page decodes)."""

from __future__ import annotations

import pytest

from bench.glass import BITS, BLOCK_H, BLOCK_W, COLS, HEIGHT, WIDTH, decode, frame


def _block_centres(data: bytes) -> list[int]:
    return [
        data[
            ((bit // COLS) * BLOCK_H + BLOCK_H // 2) * WIDTH + (bit % COLS) * BLOCK_W + BLOCK_W // 2
        ]
        for bit in range(BITS)
    ]


@pytest.mark.parametrize("stamp", [0, 1, 0xABCDEF, (1 << BITS) - 1, 1796159388721 % (1 << BITS)])
def test_a_stamped_frame_decodes_to_its_stamp(stamp: int) -> None:
    data = frame(stamp)
    assert len(data) == WIDTH * HEIGHT * 3 // 2  # yuv420p
    assert decode(_block_centres(data)) == stamp
