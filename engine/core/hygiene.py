"""Phase 00's pre-commit guard: refuse `pickle.load(`/`pickle.loads(` outside tests.

Unpickling runs arbitrary code from the file, so checkpoints go through safetensors. A
line may opt out only with a stated reason: `# nosec safe-source: <reason>`. Output is
`path:line:col: message`, one per finding, like a linter; exit 1 when anything is found.
Usable as `python -m engine.core.hygiene FILE...`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

_CALL = re.compile(r"\bpickle\.loads?\(")
_WAIVER = re.compile(r"#\s*nosec\s+safe-source:\s*\S")
MESSAGE = "pickle.load executes code from the file; load checkpoints with safetensors (or add '# nosec safe-source: <reason>')"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {MESSAGE}"


def _is_test_path(path: Path) -> bool:
    return "tests" in path.parts or path.name.startswith("test_")


def scan_file(path: Path) -> list[Finding]:
    if _is_test_path(path) or path.suffix != ".py":
        return []
    findings = []
    for number, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        code = text.split("#", 1)[0] if not _WAIVER.search(text) else ""
        for match in _CALL.finditer(code):
            findings.append(Finding(str(path), number, match.start() + 1))
    return findings


def scan(paths: list[Path]) -> list[Finding]:
    return [f for p in paths for f in scan_file(p)]


def main(argv: list[str] | None = None) -> int:
    findings = scan([Path(a) for a in (sys.argv[1:] if argv is None else argv)])
    for f in findings:
        print(f)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
