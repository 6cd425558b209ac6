"""Config and CLI errors: exit status 2, one paragraph naming the key, no traceback, before any
fitting; no credential written down; nothing left behind by a killed run (hardening issue)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import yaml

import clvmodels as clv
from clvmodels import cli, pipeline

BASE = {
    "name": "hard",
    "data": {"source": "cdnow_sample"},
    "summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"},
    "forecast": {"n_draws": 20},
    "models": {"nonpositive_spend": "zero"},
}


@pytest.fixture
def no_fitting(monkeypatch):
    """Fail loudly if a model is fitted: config errors must stop the run before."""
    def refuse(self, *a, **k):
        raise AssertionError("a model was fitted")
    monkeypatch.setattr(clv.BGNBD, "fit", refuse)
    monkeypatch.setattr(clv.GammaGamma, "fit", refuse)


def _write(tmp_path, cfg, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def _exit_2(capsys, argv, *needles):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ")
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("change,needle", [
    ({"summary": {"calibration_end": "1997-13-45"}}, "summary.calibration_end"),
    ({"name": "x" * 300}, "name"),
    ({"segments": {"vip": 1.5}}, "segments"),
    ({"segments": {"vip": 0.4, "core": 0.5}}, "segments"),
    ({"segments": {"vip": float("nan")}}, "segments.vip"),
    ({"export": [{"target": "http", "url": "ftp://crm.example.com/upload"}]}, "export.0"),
    ({"export": [{"target": "http", "url": "https://crm.example.com:99999/x"}]}, "export.0"),
    ({"export": [{"target": "sql", "url": "nosuchdb://h/db", "table": "t"}]}, "export.0"),
    ({"export": [{"target": "http", "url": "https://crm.example.com/${NO_SUCH_VAR_X}"}]}, "export.0.url"),
    ({"export": [{"target": "http", "url": "https://crm.example.com/x", "auth": {"token_env": "NO_SUCH_VAR_Y"}}]},
     "export.0.auth.token_env"),
])
def test_bad_config_exits_2_naming_the_key_before_fitting(tmp_path, capsys, no_fitting, change, needle):
    cfg = {**BASE, **change, "output": {"dir": str(tmp_path / "runs")}}
    _exit_2(capsys, ["run", str(_write(tmp_path, cfg))], needle)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_unreadable_configs_exit_2(tmp_path, capsys, no_fitting):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\ndata: {source: cdnow_sample}\n".encode("latin-1"))
    _exit_2(capsys, ["run", str(bad)], "UTF-8")
    twice = tmp_path / "twice.yaml"
    twice.write_text("name: a\ndata: {source: cdnow_sample}\nname: b\n")
    _exit_2(capsys, ["validate", str(twice)], "'name' is given twice")
    _exit_2(capsys, ["run", str(tmp_path)], "is a directory")


def test_output_locations_that_are_files_exit_2(tmp_path, capsys, no_fitting):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    _exit_2(capsys, ["run", str(_write(tmp_path, {**BASE, "output": {"dir": str(blocker)}}))], "output.dir")
    _exit_2(capsys, ["run", str(_write(tmp_path, BASE)), "--output-dir", str(blocker / "sub")], "output.dir")
    data_dir = tmp_path / "data_dir"
    data_dir.mkdir()
    _exit_2(capsys, ["validate", str(_write(tmp_path, {**BASE, "data": {"source": str(data_dir)}}))], "data.source")


def test_outputs_outside_the_working_directory_are_allowed_and_said(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cfg = {**BASE, "output": {"dir": "../elsewhere"}}
    assert cli.main(["run", str(_write(tmp_path, cfg))]) == 0
    err = capsys.readouterr().err
    assert "outside the working directory" in err
    (folder,) = (tmp_path / "elsewhere").iterdir()
    assert any("outside the working directory" in n for n in json.loads((folder / "manifest.json").read_text())["notes"])


def test_no_credential_is_written_to_the_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLV_TEST_DB_PASSWORD", "pw-from-env-481516")
    db = tmp_path / "crm.db"
    cfg = {**BASE, "output": {"dir": str(tmp_path / "runs")}, "export": [
        {"target": "sql", "url": f"sqlite:///{db}?secret_key=inline-qs-secret-2342", "table": "scores"},
        {"target": "http", "url": "https://me:inline-pw-secret-77@crm.example.com/api?token=inline-token-99",
         "headers": {"X-Api-Key": "inline-header-secret-55", "X-Env": "${CLV_TEST_DB_PASSWORD}"},
         "dry_run": True},
    ]}
    assert cli.main(["run", str(_write(tmp_path, cfg))]) == 0
    out = capsys.readouterr()
    (folder,) = (tmp_path / "runs").iterdir()
    secrets = ["inline-qs-secret-2342", "inline-pw-secret-77", "inline-token-99", "inline-header-secret-55",
               "pw-from-env-481516"]
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            assert not [s for s in secrets if s in text], path
    assert not [s for s in secrets if s in out.out + out.err]
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["export"][1]["headers"]["X-Env"] == "${CLV_TEST_DB_PASSWORD}"     # the reference is kept
    # the SQL url with an inline secret cannot be re-delivered from the folder: a clear error, not a leak
    assert cli.main(["export", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "${VAR}" in err and not [s for s in secrets if s in err]


def test_a_killed_run_leaves_nothing_that_a_later_run_keeps(tmp_path):
    # SIGKILL while the run folder is being written: the hidden .partial folder is removed by the next
    # run (a run still writing holds a lock on its own and is left alone)
    cfg = {**BASE, "output": {"dir": str(tmp_path / "runs")}}
    path = _write(tmp_path, cfg)
    script = ("import sys, time, clvmodels.pipeline as p\n"
              "orig = p._write\n"
              "def slow(*a, **k):\n"
              "    p.Path(a[0].output.dir).mkdir(parents=True, exist_ok=True)\n"
              "    return orig(*a, **k)\n"
              "import clvmodels.models.base as b\n"
              "save = b.MLEModel.save\n"
              "def hang(self, path):\n"
              "    save(self, path); print('writing', flush=True); time.sleep(60)\n"
              "b.MLEModel.save = hang\n"
              f"p.run({str(path)!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partials = list((tmp_path / "runs").glob(".*.partial"))
    assert len(partials) == 1
    (tmp_path / "runs" / ".stale.json.abc123.tmp").write_text("{}")
    result = pipeline.run(path)
    assert result.folder.exists()
    assert not list((tmp_path / "runs").glob(".*.partial")) and not list((tmp_path / "runs").glob(".*.tmp"))


def test_a_name_too_long_for_a_run_id_is_refused_before_anything_is_written(tmp_path, capsys):
    cfg = {**BASE, "name": "n" * 110, "output": {"dir": str(tmp_path / "runs")}}
    _exit_2(capsys, ["run", str(_write(tmp_path, cfg))], "name")
    assert not (tmp_path / "runs").exists()
