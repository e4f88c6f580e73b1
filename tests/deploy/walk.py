"""Walk ``docs/operations.md``: run its shell blocks, in order, as an operator would.

Each ``sh`` block starts with a comment saying where it runs: ``# on the vault host``,
``# at the site`` or ``# in the source checkout, with docker compose``. The walk runs
each block with bash (``set -euo pipefail``) in that place's own folder and home,
keeping exported variables from one block of a place to its next. Absolute paths of a
real host (``/etc/deid-vault``, ``/opt/deid-vault``, ...) and the public URL are moved
under the walk's own root; commands this machine cannot run as such are stand-ins
(``tests/deploy/shims.py``). A comment ``# copy FILE to the site`` (or ``to the vault
host``) is carried out after its block, as the operator would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.shims import COMMANDS, alive, stop

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operations.md"
PLACES = {
    "# on the vault host": "host",
    "# at the site": "site",
    "# in the source checkout, with docker compose": "compose",
}
FENCE = re.compile(r"^```(\S*)(.*)$")
TITLE = re.compile(r'title="([^"]+)"')
INLINE = re.compile(r"`(deid-vault [^`]+)`")
COPY = re.compile(r"^# copy (\S+) to the (site|vault host)$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One ``sh`` block of the guide."""

    number: int
    line: int
    place: str
    text: str

    def __str__(self) -> str:
        return f"block {self.number} (docs/operations.md line {self.line}, {self.place})"


@dataclass
class Guide:
    """What the walk takes from the page."""

    blocks: list[Block] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    """Files the page shows whole, by their fence title (``onco42.toml``)."""
    inline_commands: list[str] = field(default_factory=list)
    """``deid-vault ...`` commands written inline in the prose."""


def read_guide(text: str) -> Guide:
    """The page's shell blocks (each with its place), its files and inline commands."""
    guide = Guide()
    lines = text.splitlines()
    prose: list[str] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            prose.append(lines[i])
            i += 1
            continue
        language, attributes = opened.group(1), opened.group(2)
        start = i + 1
        end = next(j for j in range(start, len(lines)) if lines[j].startswith("```"))
        body = "\n".join(lines[start:end]) + "\n"
        if language == "sh":
            first = lines[start] if start < end else ""
            place = next((p for prefix, p in PLACES.items() if first.startswith(prefix)), None)
            if place is None:
                raise ValueError(
                    f"docs/operations.md line {start + 1}: a sh block must start with one of "
                    f"{sorted(PLACES)} (it says where the commands run)"
                )
            guide.blocks.append(Block(len(guide.blocks) + 1, start + 1, place, body))
        elif title := TITLE.search(attributes):
            guide.files[title.group(1)] = body
        i = end + 1
    guide.inline_commands = INLINE.findall(" ".join(prose))
    return guide


@dataclass
class Place:
    """Where a block runs: its folder, its home, and the exported variables so far."""

    cwd: Path
    home: Path
    state: Path


@dataclass
class Ran:
    """A block and what it printed."""

    block: Block
    stdout: str
    stderr: str


class Walker:
    """Runs the guide's blocks under ``root`` with the stand-ins first on ``PATH``."""

    def __init__(
        self,
        root: Path,
        places: dict[str, Place],
        settings: dict[str, object],
        rewrites: list[tuple[str, str]],
    ) -> None:
        self.root = root
        self.places = places
        self.rewrites = rewrites
        self.shims = root / "shims"
        self.shims.mkdir()
        for name in COMMANDS:
            self._shim(self.shims / name, name)
        (root / "logs").mkdir()
        settings = {**settings, "root": str(root), "rewrites": rewrites}
        (root / "walk.json").write_text(json.dumps(settings))
        self.ran: list[Ran] = []

    def _shim(self, path: Path, name: str) -> None:
        path.write_text(
            f"#!{sys.executable}\nimport sys\nfrom tests.deploy.shims import main\n"
            f"sys.exit(main({name!r}, sys.argv[1:]))\n"
        )
        path.chmod(0o755)

    def install_pip_shim(self, bin_dir: Path) -> None:
        """``pip`` in the install folder's bin, as the virtualenv would have it."""
        self._shim(bin_dir / "pip", "pip")

    def localize(self, text: str) -> str:
        """``text`` with a real host's paths moved under the walk's root."""
        for old, new in self.rewrites:
            text = text.replace(old, new)
        return text

    def run(self, block: Block, stdin: str | None = None) -> Ran:
        """Run one block where it says; fail with its output if it fails."""
        place = self.places[block.place]
        script = (
            "set -euo pipefail\n"
            f'if [ -f "{place.state}" ]; then . "{place.state}"; fi\n'
            f"{self.localize(block.text)}\n"
            f'export -p > "{place.state}"\n'
        )
        env = {
            "PATH": ":".join(
                (
                    str(self.shims),
                    str(self.root / "usr/local/bin"),
                    str(Path(sys.executable).parent),
                )
            )
            + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(place.home),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "WALK_STATE": str(self.root / "walk.json"),
            **({"CI": os.environ["CI"]} if "CI" in os.environ else {}),
        }
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=place.cwd,
            env=env,
            input=stdin or "",
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{block} failed with exit status {done.returncode}:\n{block.text}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        for file, where in COPY.findall(block.text):
            source = place.cwd / self.localize(file)
            target = self.places["site" if where == "site" else "host"].cwd
            shutil.copy(source, target / source.name)
        ran = Ran(block, done.stdout, done.stderr)
        self.ran.append(ran)
        return ran

    def walk(
        self, blocks: list[Block], stdin: Callable[[Block], str | None] = lambda block: None
    ) -> Iterator[Ran]:
        """Run ``blocks`` in order, yielding each (so the test can act between them)."""
        for block in blocks:
            yield self.run(block, stdin(block))

    def calls(self) -> list[dict[str, object]]:
        """What the stand-ins were asked, in order."""
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def stop_everything(self) -> None:
        """Stop every process the stand-ins started."""
        path = self.root / "processes.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                pid = json.loads(line)["pid"]
                if alive(pid):
                    stop(pid)
