"""Make the bad-input helpers (``hostile.py``) importable as ``hostile`` by the CLI tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if "hostile" not in sys.modules:
    _path = Path(__file__).with_name("hostile.py")
    _spec = importlib.util.spec_from_file_location("hostile", _path)
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["hostile"] = _module
    _spec.loader.exec_module(_module)
