"""Results files (results/<analysis>/*.json): staged in a sibling folder, then swapped in whole,
so a reader never sees a half-written set that looks finished."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["staging_dir", "write_json", "publish", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def staging_dir(base_dir: Path, analysis: str) -> Path:
    path = base_dir / "results" / f".{analysis}.staging-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def write_json(directory: Path, name: str, payload: Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(to_jsonable(payload), indent=2, sort_keys=False) + "\n")
    return path


def publish(staging: Path, base_dir: Path, analysis: str, one_off: str | None = None) -> Path:
    """Replace results/<analysis>/ by the staged folder; the old set is removed only after the swap, and
    the one-off runs kept under it (runs/<run_id>/) move into the new set. A one-off run (`one_off`: its
    run id) goes to results/<analysis>/runs/<run_id>/ and leaves the DVC-tracked files alone."""
    final = base_dir / "results" / analysis
    if one_off is not None:
        target = final / "runs" / one_off
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
        return target
    retired = final.with_name(f".{analysis}.retired-{os.getpid()}")
    if final.exists():
        if (final / "runs").is_dir():
            (final / "runs").rename(staging / "runs")
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)
    return final
