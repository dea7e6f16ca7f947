"""The versions a run records: git commit and dirty flag, the environment's hash, content hashes."""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["git_state", "git_diff", "environment_lines", "environment_sha256"]


# What a run or `dvc repro` writes itself (results, dvc.lock, ignore lists): state, not code.
_NOT_CODE = (":(top)", ":(top,exclude,glob)**/dvc.lock", ":(top,exclude,glob)**/.whyflow-reproduce.yaml",
             ":(top,exclude,glob)**/.gitignore", ":(top,exclude)results")


def _git(base_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=base_dir, capture_output=True, text=True, check=False)


def git_state(base_dir: Path) -> tuple[str, bool]:
    """(commit, dirty): dirty when tracked files differ from the commit or files git does not ignore
    are untracked, since either can change what the run computes."""
    head = _git(base_dir, "rev-parse", "HEAD")
    if head.returncode != 0:
        return "none", True
    status = _git(base_dir, "status", "--porcelain", "--untracked-files=all", "--", *_NOT_CODE)
    return head.stdout.strip(), bool(status.stdout.strip())


def git_diff(base_dir: Path) -> str:
    """The uncommitted change against HEAD as one patch, untracked (not ignored) files included."""
    patch = _git(base_dir, "diff", "--binary", "HEAD", "--", *_NOT_CODE).stdout
    untracked = _git(base_dir, "ls-files", "--others", "--exclude-standard", "-z", "--", *_NOT_CODE).stdout.split("\0")
    for name in filter(None, untracked):
        patch += _git(base_dir, "diff", "--binary", "--no-index", "--", "/dev/null", name).stdout
    return patch


def environment_lines() -> list[str]:
    """Installed distributions as sorted name==version lines (whyflow itself excluded)."""
    seen = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name and name != "whyflow":
            seen[name] = dist.version
    return [f"{name}=={version}" for name, version in sorted(seen.items())]


def environment_sha256(lines: list[str] | None = None) -> str:
    """Hash of the environment that ran: equal to the lock's when installed from requirements.lock."""
    text = "\n".join(environment_lines() if lines is None else lines) + "\n"
    return hashlib.sha256(text.encode()).hexdigest()
