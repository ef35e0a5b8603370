"""The CLI in pipes and scripts: plain rows off a terminal, quiet on a closed pipe, help on every
argument, exit codes in ``--help``, the data verbs' part/scheme hint, the missing-weights message."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import cli

ROOT = Path(__file__).resolve().parents[2]


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("benchmark",)):
    """(command path, action, help) of every argument and verb under ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            for name, sub in action.choices.items():
                yield path, name, helps.get(name)
                yield from _walk(sub, path + (name,))
            continue
        yield path, "/".join(action.option_strings) or action.dest, action.help


def test_every_verb_and_argument_has_a_help_line():
    missing = [f"{' '.join(p)} {name}" for p, name, text in _walk(cli.build_parser()) if not text]
    assert not missing, f"arguments without help: {missing}"
    assert len(list(_walk(cli.build_parser()))) > 100  # the walk reaches the plugins' verbs too


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for code in ("0 success", "1 a check failed", "2 usage or input error"):
        assert code in " ".join(out.split())
    assert all(f"`{k}`" in (ROOT / "docs" / "cli.md").read_text() for k in ("0", "1", "2"))


def test_plain_table_keeps_long_cells_whole():
    long_cite = "Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics (one-stream VGAN)"
    from benchmark.console import plain_table

    text = plain_table(("name", "paper"), [("vgan_one_stream", long_cite), ("x", "a\nb")])
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[1] == f"vgan_one_stream  {long_cite}" and lines[2] == "x                a b"


def test_list_off_a_terminal_prints_one_untruncated_row_per_name(capsys):
    assert cli.main(["list"]) == 0          # capsys: stdout is not a terminal
    out = capsys.readouterr().out
    assert "…" not in out and "\x1b[" not in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip() and not line.startswith("#")}
    from benchmark.registry import METHODS, METRICS

    for name in METHODS.list() + METRICS.list():
        assert name in rows, name
    assert "Generating Videos with Scene Dynamics (one-stream VGAN)" in rows["vgan_one_stream"]
    assert "# Methods" in out and "# Metrics" in out


class _ClosedPipe(io.StringIO):
    def write(self, s):
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self):
        raise io.UnsupportedOperation("no fd")


def test_a_closed_pipe_ends_quietly_in_process(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert cli.main(["weights", "status", "--json"]) == 141


@pytest.mark.parametrize("argv", [["weights", "status", "--json"], ["weights", "status"]])
def test_json_into_a_closed_pipe_exits_quietly(argv):
    """``benchmark ... --json | head -1``: the reader is gone before we write (deterministic, unlike
    racing a real ``head``): exit 141 like a Unix tool, no traceback on stderr. The handling is in
    ``main`` for every verb; ``weights status`` is a fast one."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmark.cli", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr


def test_data_info_hints_the_option_for_a_split_scheme(capsys):
    from benchmark.data.cli import part_error

    class WithScheme:
        def __init__(self, root=None, split="svg"):
            pass

    class WithoutScheme:
        def __init__(self, root=None):
            pass

    msg = part_error("kth", "svg", ("train", "test"), WithScheme)
    assert "-o split=svg" in msg and "train, test" in msg
    assert "-o split" not in part_error("moving-shapes", "svg", ("train", "test"), WithoutScheme)
    assert cli.main(["data", "info", "moving-shapes", "--split", "svg"]) == 2
    assert "no part 'svg'" in capsys.readouterr().err


def test_missing_weights_says_how_to_install_once(tmp_path):
    from benchmark import weights

    spec = weights.get_spec("inception_fid")
    with pytest.raises(weights.WeightsError) as e:
        weights.resolve("inception_fid", tmp_path / "absent.pth")
    assert str(e.value).count("weights install") == 1, str(e.value)
    assert spec.name in str(e.value)


def test_on_a_narrow_terminal_names_stay_whole(monkeypatch):
    from benchmark.console import print_tables

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("COLUMNS", "40")
    long_cite = "Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics"
    print_tables([("Methods", ("name", "tasks", "paper"), [("vgan_one_stream", "synthesis", long_cite)])])
    text = out.getvalue()
    assert "vgan_one_stream" in text and "vgan_one_s…" not in text


def test_manifest_verify_json(monkeypatch, capsys, tmp_path):
    import json

    import benchmark.stages.verify as verify

    monkeypatch.setattr(verify, "verify_run", lambda path, data_root=None: ["samples/x.npz: sha256 differs"])
    assert cli.main(["manifest", "verify", str(tmp_path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"path": str(tmp_path), "ok": False,
                                                   "problems": ["samples/x.npz: sha256 differs"]}
