"""The lower bound of the Wilson score interval: how good a comment is at least, given its votes.

    p = positive / total
    lower = (p + z²/2n - z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)

Sorting by it puts a comment with 40 of 40 votes above one with 1 of 1 (a raw ratio calls both
1.0) and needs no clock. Comments here only get upvotes, so the caller passes
``positive == total == upvotes`` and the bound is ``n / (n + z²)``: it grows with every vote and
by less each time; the general form stays for when downvotes or "seen" counts exist.
"""

from __future__ import annotations

import math

# 95 % confidence (the normal quantile of 0.975).
Z_95 = 1.96


def wilson_lower_bound(positive: int, total: int, z: float = Z_95) -> float:
    """0 for no votes; otherwise in [0, 1). ``positive`` is clamped to ``0..total``."""
    if total <= 0:
        return 0.0
    positive = min(max(positive, 0), total)
    p = positive / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, (centre - spread) / (1 + z2 / total))
