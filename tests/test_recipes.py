"""recipes/camvid/run.sh, the resumable CamVid schedule: which stages it skips, resumes and starts.

`python` is a stand-in on PATH that records its arguments, so no model trains here.
"""
import os
import subprocess

from conftest import REPO

RUN = REPO / "recipes" / "camvid" / "run.sh"


def run_stages(tmp_path, weights, *stages):
    """run.sh WEIGHTS STAGES with the stand-in python: (its output, the train commands it would run)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", str(RUN), str(weights), *stages], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout, calls.read_text().splitlines() if calls.exists() else []


def test_a_finished_stage_is_skipped_a_stopped_one_resumed_and_a_new_one_started(tmp_path):
    weights = tmp_path / "runs"
    (weights / ".checkpoints").mkdir(parents=True)
    (weights / "camvid-lever-base.keras").write_bytes(b"finished")
    # A run stopped with Ctrl-C saved its model so far, and its resume state says it has epochs to go.
    (weights / "camvid-lever-narrow.keras").write_bytes(b"stopped")
    (weights / ".checkpoints" / "camvid-lever-narrow.resume.json").write_text("{}")
    out, calls = run_stages(tmp_path, weights, "lever-base", "lever-narrow", "lever-median-frequency")
    assert out.splitlines() == ["camvid-lever-base: done", "camvid-lever-narrow: --resume",
                                "camvid-lever-median-frequency: start"]
    assert [call.split()[-1] for call in calls] == ["--resume", "camvid-lever-median-frequency"]
    assert all(call.startswith("-m segdemo train --recipe recipes/camvid/camvid-lever-") for call in calls)


def test_the_carried_stage_models_and_holdout_manifests_are_copied_in(tmp_path):
    weights = tmp_path / "runs"
    run_stages(tmp_path, weights)  # every default stage: the stand-in "trains" none of them
    carried = sorted(p.name for p in (RUN.parent / "checkpoint").glob("*.keras"))
    manifests = sorted(p.name for p in (RUN.parent / "xseq-results").glob("*.json"))
    assert manifests  # the holdout records stay; the carried models only until the schedule is done
    for name in carried + manifests:
        assert (weights / name).is_file(), name
