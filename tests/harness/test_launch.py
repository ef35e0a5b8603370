"""`benchmark run --launcher local|slurm` (benchmark/launch.py): jobs through submitit.

The local executor runs the very code a Slurm job runs (the pickled stage chain, in its own process);
a fake ``sbatch``/``srun``/``sacct`` on PATH checks what a Slurm user submits, lists and resubmits
without a cluster.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest

submitit = pytest.importorskip("submitit", reason="the launcher submits through submitit (requirements.txt)")

from benchmark import cli  # noqa: E402
from benchmark.launch import (DONE, FAILED, JobOptions, _stamp_id, _submit, build_chains,  # noqa: E402
                              job_rows, launch_benchmark, load_launches)
from benchmark.report.runs import load_runs  # noqa: E402
from benchmark.utils import UserError, read_json  # noqa: E402
from tests.conftest import tiny_options  # noqa: E402

QUICK = {"metrics": ["psnr"], "max_clips": 2, "max_samples": 1}


def _launch(root, out, methods, **kw):
    kw = {**QUICK, **kw}
    return launch_benchmark(methods, "moving-shapes", [0], JobOptions(launcher="local", time_min=10), out=out,
                            data_root=root, dataset_options=tiny_options(), poll_s=0.3, command=["test"], **kw)


def _results(out, method, profile="smoke"):
    return sorted((out / "runs" / "moving-shapes").glob(f"{method}/{profile}/seed*/results.json"))


def test_local_launcher_runs_two_jobs_concurrently_and_the_report_collects_them(tiny_data_root, tmp_path):
    assert _launch(tiny_data_root, tmp_path, "copy_last") == 0
    assert len(_results(tmp_path, "copy_last")) == 1 and len(_results(tmp_path, "real", "data")) == 1
    (launch,) = load_launches(tmp_path)
    assert launch["launcher"] == "local" and [j["name"] for j in launch["jobs"]] == [
        "copy_last/moving-shapes/smoke/seed0", "real/moving-shapes/data/seed0"]
    rows = job_rows(tmp_path)
    assert [r["state"] for r in rows] == [DONE, DONE]
    # two processes, running at the same time (each job's result says when it ran, and where)
    results = [submitit.LocalJob(r["attempt"]["folder"], r["job_id"]).result() for r in rows]
    assert results[0]["pid"] != results[1]["pid"] and all(r["wrote"] for r in results)
    manifest = read_json(tmp_path / "runs" / "moving-shapes" / "copy_last" / "smoke" / "seed0" / "manifest.json")
    assert manifest["hardware"]["torch_threads"] == 1  # local jobs share the machine: one thread each
    # both processes existed before either job ended (a process's start, not its job's: a quick job can
    # finish while the other process is still importing)
    assert max(r["process_started"] for r in results) < min(r["ended"] for r in results)
    assert (tmp_path / "reports" / "moving-shapes" / "index.html").exists()
    assert {r.method for r in load_runs("moving-shapes", tmp_path / "runs")} == {"copy_last", "real"}
    assert Path(rows[0]["stdout"]).exists() and Path(rows[0]["stderr"]).exists()


def test_launcher_options_are_checked_and_reach_the_executor():
    opts = JobOptions(launcher="slurm", partition="gpu", gpus=4, tasks=4, time_min=90, slurm={"account": "lab"})
    params = opts.parameters()
    assert params["slurm_partition"] == "gpu" and params["gpus_per_node"] == 4 and params["tasks_per_node"] == 4
    assert params["timeout_min"] == 90 and params["slurm_additional_parameters"] == {"account": "lab"}
    assert JobOptions.from_json(json.loads(json.dumps(opts.to_json()))) == opts
    with pytest.raises(UserError, match="one machine"):
        JobOptions(launcher="local", nodes=2)
    with pytest.raises(UserError, match="must be positive"):
        JobOptions(launcher="local", time_min=0)
    with pytest.raises(UserError, match="at least as many GPUs as tasks"):
        JobOptions(launcher="slurm", gpus=1, tasks=2)
    for device in ("auto", "cuda:0"):  # jobs see only the GPUs they ask for: never a silent CPU run
        with pytest.raises(UserError, match="ask for no GPU"):
            JobOptions(launcher="local").check_device(device)
    JobOptions(launcher="local").check_device("cpu")
    JobOptions(launcher="local", gpus=1).check_device("auto")
    args = cli.build_parser().parse_args(["run", "--dataset", "moving-shapes", "--launcher", "slurm", "--no-wait",
                                          "--slurm-partition", "p", "--slurm-gpus", "2", "--slurm-time", "30",
                                          "--slurm-option", "qos=high"])
    assert (args.launcher, args.wait, args.job_partition, args.job_gpus, args.job_time) == ("slurm", False, "p", 2, 30)
    assert cli.build_parser().parse_args(["run", "--dataset", "moving-shapes"]).launcher == "none"
    assert cli.main(["run", "--dataset", "moving-shapes", "--launcher", "local", "--jobs", "2"]) == 2
    assert _stamp_id() != _stamp_id()  # two launches of one process in one second keep two records


def test_launched_baselines_also_run_on_the_dataset_variant_another_method_needs(tiny_data_root, tmp_path):
    """As in the in-process run: with P2P (two-ended protocol) the selected copy_last gets a
    ``copy_last@two_ended`` job on that variant."""
    chains = build_chains("p2p,copy_last", "moving-shapes", [0], out=tmp_path, data_root=tiny_data_root,
                          dataset_options=tiny_options(), **QUICK)
    assert [c.name for c in chains] == ["p2p/moving-shapes/smoke/seed0", "copy_last/moving-shapes/smoke/seed0",
                                        "copy_last@two_ended/moving-shapes/smoke/seed0", "real/moving-shapes/data/seed0"]
    variant = chains[2].spec
    assert (variant.method, variant.variant, variant.dataset_options["two_ended"]) == ("copy_last", "two_ended", True)
    assert "two_ended" not in chains[1].spec.dataset_options


def test_a_chain_is_checkpointable_so_a_timed_out_job_is_requeued_with_it(tiny_data_root, tmp_path):
    chains = build_chains("copy_last,conv_lstm", "moving-shapes", [0, 1], out=tmp_path, data_root=tiny_data_root,
                          dataset_options=tiny_options(), **QUICK)
    assert [c.name for c in chains] == [f"{m}/moving-shapes/smoke/seed{s}" for s in (0, 1)
                                        for m in ("copy_last", "conv_lstm")] + ["real/moving-shapes/data/seed0"]
    assert [c.single_task for c in chains] == [True, False, True, False, True]
    assert all(not c.spec.progress for c in chains)  # no progress bars in log files
    assert JobOptions(launcher="local").threads() == 1 and JobOptions(launcher="slurm", cpus=8).threads() == 8
    assert JobOptions(launcher="slurm").threads() is None
    again = chains[1].checkpoint()  # what submitit requeues on a timeout: the same chain (training resumes)
    assert isinstance(again, submitit.helpers.DelayedSubmission) and again.function is chains[1]


def test_slurm_without_sbatch_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    code = cli.main(["run", "--methods", "copy_last", "--dataset", "moving-shapes", "--launcher", "slurm",
                     "--out", str(tmp_path)])
    assert code == 2 and "sbatch/srun, which are not on PATH" in capsys.readouterr().err


def test_a_missing_submitit_names_its_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(__import__("sys").modules, "submitit", None)  # importing it now raises ImportError
    code = cli.main(["run", "--methods", "copy_last", "--dataset", "moving-shapes", "--launcher", "local",
                     "--out", str(tmp_path)])
    assert code == 2 and "pip install 'vidbench[cluster]'" in capsys.readouterr().err


def test_jobs_without_launches_says_how_to_launch(tmp_path, capsys):
    assert cli.main(["jobs", "--out", str(tmp_path)]) == 2
    assert "--launcher local|slurm" in capsys.readouterr().err


# ----------------------------------------------------------------------------- fake Slurm ---

def _fake_slurm(bin_dir: Path, first_id: int) -> Path:
    """``sbatch`` (prints a new job id, keeps the script), ``srun`` and ``sacct`` (prints $FAKE_SACCT)."""
    bin_dir.mkdir()
    (bin_dir / "counter").write_text(str(first_id))
    scripts = {
        "sbatch": f'n=$(cat {bin_dir}/counter); echo $((n+1)) > {bin_dir}/counter; '
                  f'cp "$1" {bin_dir}/submitted-$n.sh; echo "Submitted batch job $n"',
        "srun": "exit 0",
        "sacct": 'printf "JobID|State|NodeList\\n"; cat "$FAKE_SACCT" 2>/dev/null; exit 0',
    }
    for name, body in scripts.items():
        f = bin_dir / name
        f.write_text("#!/bin/sh\n" + body + "\n")
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_slurm_submits_job_arrays_per_seed_lists_failed_jobs_with_logs_and_resubmits_them(tmp_path, monkeypatch,
                                                                                         capsys):
    bin_dir = _fake_slurm(tmp_path / "bin", 4242)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    sacct = tmp_path / "sacct.txt"
    monkeypatch.setenv("FAKE_SACCT", str(sacct))
    submitit.SlurmJob.watcher.clear()
    out = tmp_path / "out"
    code = cli.main(["run", "--methods", "conv_lstm,copy_last", "--dataset", "moving-shapes", "--out", str(out),
                     "--seeds", "0,1", "--launcher", "slurm", "--no-wait", "--profile", "paper",
                     "--slurm-partition", "gpu", "--slurm-gpus", "2", "--slurm-tasks", "2", "--slurm-time", "90",
                     "--slurm-option", "account=lab", "--slurm-setup", "module load cuda"])
    assert code == 0, capsys.readouterr().err
    # conv_lstm trains with DDP: 2 tasks and 2 GPUs per job, one job per seed; copy_last (nothing to
    # train) and the real-data bound ask for one task and one GPU: two sbatch calls, two arrays
    ddp, single = ((bin_dir / f"submitted-{n}.sh").read_text() for n in (4242, 4243))
    for line in ("--partition=gpu", "--gpus-per-node=2", "--ntasks-per-node=2", "--array=0-1%2", "--time=90",
                 "--account=lab", "module load cuda"):
        assert line in ddp, line
    for line in ("--partition=gpu", "--gpus-per-node=1", "--ntasks-per-node=1", "--array=0-2%3", "--time=90"):
        assert line in single, line
    assert not (bin_dir / "submitted-4244.sh").exists()
    (launch,) = load_launches(out)
    ids = {j["name"]: j["attempts"][0]["job_id"] for j in launch["jobs"]}
    assert ids == {"conv_lstm/moving-shapes/paper/seed0": "4242_0", "conv_lstm/moving-shapes/paper/seed1": "4242_1",
                   "copy_last/moving-shapes/paper/seed0": "4243_0", "copy_last/moving-shapes/paper/seed1": "4243_1",
                   "real/moving-shapes/data/seed0": "4243_2"}
    assert launch["seeds"] == [0, 1]
    assert launch["jobs"][3]["run_dir"].endswith("runs/moving-shapes/copy_last/paper/seed1")

    sacct.write_text("4242_0|COMPLETED|node1\n4242_1|FAILED|node1\n4243_0|RUNNING|node2\n"
                     "4243_1|TIMEOUT|node2\n4243_2|PENDING|\n")
    capsys.readouterr()
    assert cli.main(["jobs", "--out", str(out), "--json"]) == 1  # a job failed
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {n: r["state"] for n, r in rows.items()} == {
        "conv_lstm/moving-shapes/paper/seed0": "failed",  # COMPLETED, yet no result file: not done
        "conv_lstm/moving-shapes/paper/seed1": "failed", "copy_last/moving-shapes/paper/seed0": "running",
        "copy_last/moving-shapes/paper/seed1": "failed", "real/moving-shapes/data/seed0": "pending"}
    failed = rows["conv_lstm/moving-shapes/paper/seed1"]
    assert failed["stderr"].endswith("4242_1_0_log.err") and "FAILED" in failed["detail"]
    assert "TIMEOUT" in rows["copy_last/moving-shapes/paper/seed1"]["detail"]

    assert cli.main(["jobs", "--out", str(out), "--resubmit", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    again = {n: (r["job_id"], r["attempts"]) for n, r in rows.items() if r["attempts"] > 1}
    assert again == {"conv_lstm/moving-shapes/paper/seed0": ("4244_0", 2),
                     "conv_lstm/moving-shapes/paper/seed1": ("4244_1", 2),
                     "copy_last/moving-shapes/paper/seed1": ("4245", 2)}  # the launch's options again
    assert "--ntasks-per-node=2" in (bin_dir / "submitted-4244.sh").read_text()
    assert "--ntasks-per-node=1" in (bin_dir / "submitted-4245.sh").read_text()
    assert not (bin_dir / "submitted-4246.sh").exists()  # only the failed jobs


# ----------------------------------------------------------------------- killed and raced ---

def _wait_for(predicate, timeout=240.0, what="condition"):
    t0 = time.time()
    while not predicate():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_killed_job_is_listed_resubmitted_and_completes_without_duplicate_results(tiny_data_root, tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path
    # two launches into one --out, running at once: a quick copy_last, and a conv_lstm that checkpoints
    # every step (the overrides are conv_lstm's, so it is launched on its own)
    assert _launch(tiny_data_root, out, "copy_last", wait=False) == 0
    assert _launch(tiny_data_root, out, "conv_lstm", wait=False, untrained_references=False,
                   overrides={"train.steps": 60, "train.checkpoint_every": 1}) == 0
    run = out / "runs" / "moving-shapes" / "conv_lstm" / "smoke" / "seed0"
    _wait_for(lambda: (run / "train" / "checkpoint.pt").exists(), what="conv_lstm's first checkpoint")
    row = next(r for r in job_rows(out) if r["name"].startswith("conv_lstm"))
    assert row["state"] == "running"
    for task in psutil.Process(int(row["job_id"])).children(recursive=True):
        task.send_signal(signal.SIGKILL)  # the job dies mid-training, as on a node failure or OOM kill
    _wait_for(lambda: next(r for r in job_rows(out) if r["name"].startswith("conv_lstm"))["state"] == FAILED,
              what="the killed job to be listed as failed")
    assert not (run / "results.json").exists() and (run / "train" / "pending.json").exists()
    _wait_for(lambda: {r["state"] for r in job_rows(out) if not r["name"].startswith("conv_lstm")} == {DONE},
              what="copy_last and the real-data bound")
    # a later `benchmark report` collects whatever finished
    assert cli.main(["report", "--dataset", "moving-shapes", "--runs", str(out / "runs"),
                     "--out", str(out / "partial"), "--format", "csv"]) == 0
    partial = (out / "partial" / "leaderboard.csv").read_text()
    assert "copy_last" in partial and "conv_lstm" not in partial

    assert cli.main(["jobs", "--out", str(out), "--resubmit", "--wait"]) == 0
    rows = {r["name"]: r for r in job_rows(out)}
    assert len(load_launches(out)) == 2 and {r["state"] for r in rows.values()} == {DONE}
    assert set(rows) == {"copy_last/moving-shapes/smoke/seed0", "conv_lstm/moving-shapes/smoke/seed0",
                         "real/moving-shapes/data/seed0"}
    assert rows["conv_lstm/moving-shapes/smoke/seed0"]["attempts"] == 2
    stage = read_json(run / "train" / "stage.json")
    assert stage["resumed"] is True and stage["summary"]["step"] == 60
    steps = [json.loads(line)["step"] for line in (run / "train" / "train_log.jsonl").read_text().splitlines()]
    assert len(steps) == len(set(steps))  # the killed run's lines after its checkpoint were dropped
    assert len(_results(out, "conv_lstm")) == 1 and len(_results(out, "copy_last")) == 1
    runs = load_runs("moving-shapes", out / "runs")
    assert sorted(r.method for r in runs) == ["conv_lstm", "copy_last", "real"]  # one row set each


@pytest.mark.slow
def test_two_jobs_of_the_same_run_racing_write_it_once(tiny_data_root, tmp_path):
    chain = build_chains("copy_last", "moving-shapes", [0], out=tmp_path, data_root=tiny_data_root,
                         dataset_options=tiny_options(), **QUICK)[0]
    jobs = _submit(JobOptions(launcher="local", time_min=10), tmp_path / "logs", [chain, chain])
    results = [job.result() for job in jobs]
    assert sorted(r["wrote"] for r in results) == [False, True]  # the second found it fresh: wrote nothing
    first, second = sorted(results, key=lambda r: r["ended"])
    assert second["ended"] > first["ended"] and len(_results(tmp_path, "copy_last")) == 1


@pytest.mark.slow
def test_a_job_with_two_tasks_trains_with_ddp_and_records_the_world_size(tiny_data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code = launch_benchmark("conv_lstm", "moving-shapes", [0], JobOptions(launcher="local", tasks=2, time_min=10),
                            out=tmp_path, data_root=tiny_data_root, dataset_options=tiny_options(), poll_s=0.3,
                            max_train_steps=2, untrained_references=False, **QUICK)
    assert code == 0
    run = tmp_path / "runs" / "moving-shapes" / "conv_lstm" / "smoke" / "seed0"
    stage = read_json(run / "train" / "stage.json")
    assert stage["world_size"] == 2 and stage["hardware"]["world_size"] == 2
    assert (run / "results.json").exists()
    row = next(r for r in job_rows(tmp_path) if r["name"].startswith("conv_lstm"))
    ranks = [submitit.LocalJob(row["attempt"]["folder"], row["job_id"], tasks=[0, 1]).task(t).result()
             for t in (0, 1)]
    assert [r.get("rank", 0) for r in ranks] == [0, 1] and "results" in ranks[0]
