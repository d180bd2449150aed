"""The runnable blocks of a Markdown guide, and a bash script that runs them in order.

Fences marked `tested` are run; every other fence is prose:

    ```console tested                      lines starting with "$ " are commands (a line
    $ some-command --option \\              ending in a backslash continues the command);
        --more                             the other lines are output that the command
    expected output line                   must print (each line, anywhere in its output)
    ```

    ```ini tested file=/etc/octavia/octavia.conf     the block's text is written to the file
    ```

All commands run in one bash process, in document order, so `export` and background
services (`cmd > log 2>&1 &`) carry over to later blocks; the run stops at the first
command that fails. Text substitutions (paths, ports) are applied to every block first.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

_FENCE = re.compile(r"^```(\w+)(.*)$")


@dataclasses.dataclass(frozen=True)
class Step:
    line: int  # in the document, 1-based
    command: str = ""
    expected: tuple[str, ...] = ()
    file: str = ""
    content: str = ""

    def describe(self) -> str:
        return f"line {self.line}: " + (f"$ {self.command}" if self.command else f"(write {self.file})")


def _substituted(text: str, substitutions: Mapping[str, str]) -> str:
    for old, new in substitutions.items():
        text = text.replace(old, new)
    return text


def _console_steps(lines: list[str], first_line: int) -> list[Step]:
    steps: list[Step] = []
    command: list[str] = []
    start = 0
    expected: list[str] = []

    def close() -> None:
        if command:
            steps.append(Step(start, "\n".join(command), tuple(e.strip() for e in expected if e.strip())))

    for offset, line in enumerate(lines):
        if command and command[-1].endswith("\\") and not expected:
            command.append(line)
        elif line.startswith("$ "):
            close()
            command, expected, start = [line[2:]], [], first_line + offset
        elif command:
            expected.append(line)
    close()
    return steps


def runnable_steps(markdown: str, substitutions: Mapping[str, str]) -> list[Step]:
    """Every step of the document's `tested` blocks, in order, substitutions applied."""
    steps: list[Step] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        kind, attributes = match.group(1), match.group(2).split()
        end = lines.index("```", index + 1)
        body = [_substituted(line, substitutions) for line in lines[index + 1 : end]]
        if "tested" in attributes:
            files = [a.split("=", 1)[1] for a in attributes if a.startswith("file=")]
            if files:
                steps.append(
                    Step(
                        index + 1, file=_substituted(files[0], substitutions), content="\n".join(body) + "\n"
                    )
                )
            elif kind == "console":
                steps.extend(_console_steps(body, index + 2))
            else:
                raise ValueError(f"line {index + 1}: a tested {kind} block needs file=PATH")
        index = end + 1
    return steps


def script(steps: list[Step], output_dir: Path) -> str:
    """bash that runs `steps`, keeping each one's output and exit status under output_dir."""
    parts = ["set -u"]
    for number, step in enumerate(steps):
        out = shlex.quote(str(output_dir / f"{number}.out"))
        rc = shlex.quote(str(output_dir / f"{number}.rc"))
        if step.file:
            path = shlex.quote(step.file)
            parts.append(
                f'mkdir -p "$(dirname {path})" && '
                f"cat > {path} <<'OSTIA_GUIDE_EOF'\n{step.content}OSTIA_GUIDE_EOF"
            )
            parts.append(f"echo $? > {rc}")
        else:
            parts.append(f"{{\n{step.command}\n}} > {out} 2>&1 < /dev/null")
            parts.append(f"echo $? > {rc}")
        parts.append(f'[ "$(cat {rc})" = 0 ] || exit 3')
    return "\n".join(parts) + "\n"
