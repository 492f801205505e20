"""Checkpoint files: plain dicts, saved atomically, loaded with ``weights_only``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from losstopo.errors import LosstopoError
from losstopo.io.atomic import check_input_file, write_atomic

REQUIRED_KEYS = ("problem", "hparams", "state_dict", "metrics", "seed", "device")


def weights_sha256(state_dict: dict[str, Any]) -> str:
    """SHA-256 of the weights (names, dtypes, shapes and bytes): torch's zip reader does not
    check its CRCs, so a flipped bit in the tensor data would otherwise load silently."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name]
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` (with the checksum of its weights) with ``torch.save`` to a
    temporary file, then rename it."""
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint lacks {', '.join(missing)}")
    checkpoint = {**checkpoint, "weights_sha256": weights_sha256(checkpoint["state_dict"])}
    write_atomic(path, lambda tmp: torch.save(checkpoint, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) and check its keys."""
    path = Path(path)
    if path.is_dir():
        raise LosstopoError(f"checkpoint {path} is a directory, not a file")
    check_input_file(path, "checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways on truncated or foreign files
        kind = type(exc).__name__
        raise LosstopoError(
            f"{path} is not a readable checkpoint ({kind}: {_reason(exc)})"
        ) from None
    if not isinstance(checkpoint, dict):
        raise LosstopoError(f"{path} is not a losstopo checkpoint (not a dict)")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise LosstopoError(f"checkpoint {path} lacks {', '.join(missing)}")
    recorded = checkpoint.get("weights_sha256")
    state = checkpoint["state_dict"]
    if recorded is not None and isinstance(state, dict):
        try:
            actual = weights_sha256(state)
        except (AttributeError, RuntimeError, TypeError):
            actual = None
        if actual != recorded:
            raise LosstopoError(
                f"checkpoint {path} is corrupt: its weights do not match the checksum saved "
                "with them"
            )
    return checkpoint


def _reason(exc: BaseException) -> str:
    """The informative line of a torch.load error (its messages span many lines).

    A pickle that asks for a global outside the safe set is named by that global; the
    advice torch gives (reload without ``weights_only``) would execute the file's code.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line:
            return f"refused to unpickle it: {line.rstrip('.')}"
    for line in lines:
        if "WeightsUnpickler error" in line:
            return line
    return lines[0] if lines else type(exc).__name__
