"""The geometry of a homography (template mm → image pixels): where it puts a point, its
local affine map, and the camera tilt it implies."""

from __future__ import annotations

import math

import numpy as np


def project(h: np.ndarray, x: float, y: float) -> tuple[float, float]:
    px, py, pw = h @ np.array([x, y, 1.0])
    return float(px / pw), float(py / pw)


def jacobian(h: np.ndarray, x: float, y: float) -> np.ndarray:
    """The 2x2 derivative of the homography at (x, y) mm: the local affine map."""
    eps = 1.0
    x1, y1 = project(h, x + eps, y)
    x0, y0 = project(h, x - eps, y)
    x2, y2 = project(h, x, y + eps)
    x3, y3 = project(h, x, y - eps)
    return np.array([[x1 - x0, x2 - x3], [y1 - y0, y2 - y3]]) / (2 * eps)


def tilt_deg(h: np.ndarray, width_mm: float, height_mm: float) -> float:
    """The camera tilt the homography implies over a page of this size: a tilt t shortens
    the far edge by ~tan(t) * (extent / distance); with the camera about one page height
    away, the local scale across the page changes by ~tan(t)."""
    scales = [
        abs(float(np.linalg.det(jacobian(h, x, y)))) ** 0.5
        for x in (0, width_mm)
        for y in (0, height_mm)
    ]
    if min(scales) <= 0:
        return 90.0
    return math.degrees(math.atan(max(scales) / min(scales) - 1))
