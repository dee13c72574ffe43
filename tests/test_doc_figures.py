"""Figures in the docs are the ones the results files hold (issue 13, item 8).

Project rule: a figure quoted in a doc must be one that a results file (``benchmarks/results/*.json``) holds, and a
ratio must be one measured in a single run (so the results file holds the ratio itself, not two numbers from different
runs that the reader divides).

What is checked
---------------
``README.md`` and ``docs/*.md`` are split into blocks: paragraphs (or list items) separated by blank lines, and
tables. Fenced code blocks are skipped. A block is *sourced* when it names a results file, in the block itself or in
one of the headings it sits under (a heading like ``## Measured (`python benchmarks/export.py`)`` sources its whole
section):

* ``name.json`` or ``benchmarks/results/name.json``, where ``benchmarks/results/name.json`` exists, names that file;
* ``benchmarks/script.py`` names every results file that script writes: those whose name (``name.json``) or stem
  as a string literal (``"name"``, as passed to ``_common.save``) appears in the script's source.

Once a block names a results file, the blocks after it in the same section (up to the next heading) are sourced by
it too: the table a paragraph introduces, the paragraph that comments on the table.

Every number in a sourced block must be found, after rounding as written, among the numbers of the files it names
(every numeric value, and the numbers inside strings, keys included, such as ``"x86_64, 2 cores, Python 3.11.7"``,
``"JAX: 24% of each GPU's memory"`` or ``"table1_100px"``). "As written" means: a number with ``n`` decimals matches a
value within half a unit of its last digit (``0.43x`` matches 0.4312, ``4.66 s`` matches 4.6612, ``1,156`` matches
1156, ``500k`` matches 500000, ``4.0M`` matches 4.02e6); a number followed by ``%`` also matches a fraction (``80.7%``
matches 0.807); one followed by ``s`` also matches milliseconds (``4.7 s`` matches 4663.7 in ``overhead_ms_mean``),
one followed by ``ms`` also matches seconds, one followed by ``minutes`` also matches seconds. In a range ``13-28%``
or ``830 -> 1,068 MB`` both ends carry the unit. The check is per number, against every number of the named files, so
a small integer (``2 cores``, ``4 per GPU``) usually finds a match; what it catches is the figure that matters: a
ratio, a time, a rate or a size that the run did not produce, or that a rerun changed.

Not figures, so not checked: anything inside backticks (commands, options, file names), link targets, numbers that
are part of a word (``H200``, ``x86_64``, ``float16``, ``ResNet-50``, ``Table-1``).

The allowlist
-------------
Numbers in a sourced block that are not measurements of that run and that its results file does not hold (a constant
of the code, an exit status, a figure quoted from the paper, the size of a search the file does not record) are
listed in ``ALLOWED``: per document, the exact phrase that holds the number and why it is not a measured figure. A
phrase there exempts the numbers inside it, in that document only. An entry must still occur in its document (so the
list cannot go stale), and measured figures never go there: if the results file lacks a measured figure, the
benchmark script must write it (and be rerun) or the doc must stop quoting it.

A second test checks that every results file is written by a script in ``benchmarks/`` (its name or stem appears in
one), so hand-renamed copies of a results file cannot come back.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# document (relative to the repository root) -> {phrase holding non-measured numbers: why they are not figures}
ALLOWED: dict[str, dict[str, str]] = {
    "README.md": {
        "status 130, SIGTERM with 143": "exit statuses (128 + signal number), not measurements",
    },
    "docs/ray.md": {
        "10 trials": "TRIALS_PER_WORKER, a constant of nas/executors/ray_cluster.py",
        "32 px": "ray_scaling.py's real-training image size, not recorded in ray_scaling.json",
    },
    "docs/peers.md": {
        "(issue 12)": "an issue number, not a measurement",
    },
    "docs/ham10000.md": {
        "| 93% |": "the paper's reported accuracy for its searched CNN (quoted from the paper)",
        "| 85% |": "the paper's reported accuracy for its Table-1 CNN (quoted from the paper)",
    },
}

_CODE_SPAN = re.compile(r"`[^`]*`")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_RESULTS_NAME = re.compile(r"(?<![\w/.-])(?:benchmarks/results/)?([A-Za-z0-9_]+)\.json")
_SCRIPT_NAME = re.compile(r"benchmarks/([A-Za-z0-9_]+)\.py")
# a number: not part of a word (H200, x86_64, ResNet-50); thousands separators; decimals; a k/M multiplier or an x
_NUMBER = re.compile(r"(?<![\w.])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:([kM])(?![A-Za-z])|(?=x)|(?![\w]))")
_UNIT = re.compile(r"\s*(%|ms\b|s\b|seconds\b|minutes?\b|min\b)")
_RANGE_END = re.compile(r"\s*(?:-|–|->|→|to)\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_SCALES = {"%": (1, 100), "ms": (1, 1000), "s": (1, 0.001), "seconds": (1, 0.001), "minute": (1, 1 / 60),
           "minutes": (1, 1 / 60), "min": (1, 1 / 60)}


def script_outputs() -> dict[str, set[str]]:
    """benchmarks/<script>.py -> the results files (names) it writes."""
    names = [p.name for p in RESULTS.glob("*.json")]
    outputs = {}
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        text = script.read_text()
        outputs[script.stem] = {n for n in names if n in text or f'"{n[:-5]}"' in text}
    return outputs


def json_numbers(value, found: list[float]) -> list[float]:
    if isinstance(value, bool):
        return found
    if isinstance(value, (int, float)):
        found.append(float(value))
    elif isinstance(value, str):  # "x86_64, 2 cores", "table1 at 64x64x3, 1,451,047 parameters"
        found.extend(float(m) for m in re.findall(r"\d+(?:\.\d+)?", value))
        found.extend(float(m.replace(",", "")) for m in re.findall(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", value))
    elif isinstance(value, dict):
        for key, item in value.items():
            json_numbers(key, found)  # keys that carry a setting: "table1_100px", "trained_6_epochs"
            json_numbers(item, found)
    elif isinstance(value, list):
        for item in value:
            json_numbers(item, found)
    return found


def blocks(text: str):
    """(headings above, block text, first line number) for each paragraph, list item run or table; code skipped."""
    headings: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    fenced = False
    for number, line in enumerate(text.splitlines() + [""], 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            if current:
                yield [h for _, h in headings], "\n".join(current), start
                current = []
            continue
        if fenced:
            continue
        heading = re.match(r"(#+)\s+(.*)", line)
        is_table = line.lstrip().startswith("|")
        was_table = bool(current) and current[-1].lstrip().startswith("|")
        if heading or not line.strip() or (current and is_table != was_table):
            if current:
                yield [h for _, h in headings], "\n".join(current), start
                current = []
        if heading:
            level = len(heading.group(1))
            headings = [(lvl, h) for lvl, h in headings if lvl < level] + [(level, heading.group(2))]
            continue
        if line.strip():
            if not current:
                start = number
            current.append(line)


def named_results(text: str, outputs: dict[str, set[str]]) -> set[str]:
    names = {f"{m}.json" for m in _RESULTS_NAME.findall(text) if (RESULTS / f"{m}.json").exists()}
    for script in _SCRIPT_NAME.findall(text):
        names |= outputs.get(script, set())
    return names


def figures(text: str):
    """(number as written, value, half a unit of its last digit, scales) for each figure in a block's prose."""
    prose = _HTML_COMMENT.sub(" ", text)
    prose = _CODE_SPAN.sub(" ", prose)
    prose = _LINK_TARGET.sub("]", prose)
    for match in _NUMBER.finditer(prose):
        whole, decimals, multiplier = match.group(1), match.group(2) or "", match.group(3)
        value = float(whole.replace(",", "") + decimals)
        half = 0.5 * 10.0 ** -(len(decimals) - 1 if decimals else 0)
        if multiplier:
            factor = 1e3 if multiplier == "k" else 1e6
            value, half = value * factor, half * factor
        after = prose[match.end():]
        unit = _UNIT.match(after)
        if unit is None:  # the first end of a range takes the unit of the second: 13-28%, 830 -> 1,068 MB
            other = _RANGE_END.match(after)
            if other:
                unit = _UNIT.match(after[other.end():])
        scales = _SCALES.get(unit.group(1), (1,)) if unit else (1,)
        yield match.group(0), value, half, scales


def matches(value: float, half: float, scales, numbers: list[float]) -> bool:
    return any(abs(n * s - value) <= half * (1 + 1e-9) + 1e-12 for n in numbers for s in scales)


def unbacked(doc: Path) -> list[str]:
    rel = doc.relative_to(ROOT).as_posix()
    allowed = ALLOWED.get(rel, {})
    outputs = script_outputs()
    problems = []
    section, carried = None, set()
    for headings, text, line in blocks(doc.read_text()):
        if headings != section:  # a new section: nothing carried over
            section, carried = headings, set()
        carried |= named_results("\n".join(headings + [text]), outputs)
        sources = set(carried)
        if not sources:
            continue
        numbers = [n for name in sorted(sources) for n in json_numbers(json.loads((RESULTS / name).read_text()), [])]
        checked = text
        for phrase in allowed:
            checked = checked.replace(phrase, " ")
        for written, value, half, scales in figures(checked):
            if not matches(value, half, scales, numbers):
                problems.append(f"{rel}:{line}: {written!r} is in none of {', '.join(sorted(sources))}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_quoted_figures_are_in_the_results_files(doc):
    problems = unbacked(doc)
    assert not problems, "figures the named results files do not hold:\n" + "\n".join(problems)


def test_allowlist_phrases_still_occur():
    stale = [f"{doc}: {phrase!r}" for doc, phrases in ALLOWED.items() for phrase in phrases
             if phrase not in (ROOT / doc).read_text()]
    assert not stale, "ALLOWED entries no longer in their document (remove them):\n" + "\n".join(stale)


def test_every_results_file_is_written_by_a_benchmark_script():
    written = set().union(*script_outputs().values())
    orphans = sorted(p.name for p in RESULTS.glob("*.json") if p.name not in written)
    assert not orphans, f"results files no script in benchmarks/ writes: {orphans}"


# the checker itself, on small examples


def test_rounding_units_and_ranges():
    found = {w: (v, h, s) for w, v, h, s in figures("0.43x, 4.7 s, 1,156 MB, 13-28%, 500k, 4.0M and `--epochs 12`")}
    assert set(found) == {"0.43", "4.7", "1,156", "13", "28", "500k", "4.0M"}
    assert matches(*found["0.43"], [0.4312]) and not matches(*found["0.43"], [0.4412])
    assert matches(*found["4.7"], [4663.7]) and matches(*found["4.7"], [4.66])
    assert matches(*found["1,156"], [1156]) and not matches(*found["1,156"], [1158])
    assert matches(*found["13"], [0.129]) and matches(*found["28"], [28.2])
    assert matches(*found["500k"], [500000]) and matches(*found["4.0M"], [4_020_000])
    assert not list(figures("NVIDIA H200, x86_64, ResNet-50, Table-1, float16"))
