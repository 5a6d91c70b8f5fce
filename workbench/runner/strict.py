"""The config a lab receives: a dict that refuses keys its YAML does not declare.

Every default lives in the lab's `config:` block, so the manifest and its config hash see it.
A lab that reads `cfg.get("steps", 100)` for a key the YAML lacks would hide a default in
Python; with a StrictConfig that read raises `UndeclaredKey`, naming the key and the declared
ones, so the test suite finds it. Nested mappings are strict too. `dict(cfg)` gives a plain copy.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


class UndeclaredKey(KeyError):
    """A lab read a config key that its YAML `config:` block does not declare."""

    def __str__(self) -> str:
        return str(self.args[0])


class StrictConfig(dict[str, Any]):
    def __init__(self, data: dict[str, Any], where: str = "config") -> None:
        super().__init__({k: StrictConfig(v, f"{where}.{k}") if isinstance(v, dict) else v for k, v in data.items()})
        self._where = where

    def _refuse(self, key: object) -> UndeclaredKey:
        known = ", ".join(sorted(map(str, self))) or "none"
        return UndeclaredKey(f"{self._where}: key {key!r} is not declared in the lab's YAML config (declared: {known})")

    def __missing__(self, key: object) -> Any:
        raise self._refuse(key)

    def get(self, key: str, default: Any = _MISSING) -> Any:  # a default does not rescue an undeclared key
        if key in self:
            return dict.__getitem__(self, key)
        raise self._refuse(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return dict.__getitem__(self, key)
        raise self._refuse(key)

    def __reduce__(self) -> tuple[type[StrictConfig], tuple[dict[str, Any], str]]:
        return (StrictConfig, (dict(self), self._where))
