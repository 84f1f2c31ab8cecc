"""Is the Hugging Face hub reachable? Asked once per process, in a few seconds, before anything downloads.

Without a network, huggingface_hub and datasets retry every request with back-off: 36-72 s of retry
messages before the error that says what is wrong (measured on the development VM). So a run that needs
the hub (a model id, a benchmark without --data_dir) first opens one TCP connection to it. Unreachable,
or HF_HUB_OFFLINE=1: offline mode is switched on for the whole process, so whatever the local cache
holds loads at once and anything else fails in one line.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

PROBE_SECONDS = 3.0
_reachable: dict[str, bool] = {}
_why_offline: list[str] = []  # why use_hub() turned offline mode on


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def offline_requested() -> bool:
    return any(os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_reachable() -> bool:
    """One TCP connection to the hub's host (HF_ENDPOINT respected), remembered for the process."""
    url = urlparse(endpoint())
    host = url.hostname or "huggingface.co"
    if host not in _reachable:
        port = url.port or (443 if url.scheme != "http" else 80)
        try:
            with socket.create_connection((host, port), timeout=PROBE_SECONDS):
                _reachable[host] = True
        except OSError:
            _reachable[host] = False
    return _reachable[host]


def go_offline() -> None:
    """Offline mode for huggingface_hub, transformers and datasets, whether or not they are imported yet."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[name] = "1"
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_OFFLINE = True
    config = sys.modules.get("datasets.config")
    if config is not None:
        config.HF_HUB_OFFLINE = True
        config.HF_DATASETS_OFFLINE = True


def use_hub() -> bool:
    """Before something is fetched from the hub: True when it can be; else offline mode is on and only the
    local cache can serve it."""
    if _why_offline:
        return False
    if offline_requested():
        _why_offline.append("HF_HUB_OFFLINE is set")
    elif not hub_reachable():
        _why_offline.append(f"{urlparse(endpoint()).hostname} cannot be reached")
    else:
        return True
    go_offline()
    return False


def offline_reason() -> str:
    return _why_offline[0] if _why_offline else "offline"
