"""Issue 13, items 1-4: blinding that survives a rater who never watches the videos.

A bot may read everything the server sends (URLs, ids, sizes, bytes) without decoding a frame:
which side holds the real clip must still be a coin flip for it.
"""

from __future__ import annotations

import random
import struct
from collections import Counter, defaultdict

import pytest

from benchmark.crowd.design import load_study
from benchmark.crowd.server import CrowdApp
from tests.crowd.crowd_helpers import bytes_behind, fast_tmp, http, make_study, served, video_behind  # noqa: F401

SECRET = bytes(range(32))  # a fixed study secret: the design (and so this test) is deterministic


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory):
    """A design like the demo's (`benchmarks/crowd_load.py`): real + 2 methods, 20 trials per pair, 4 checks."""
    return make_study(tmp_path_factory.mktemp("blind"), judgements_per_pair=20, secret=SECRET)


def _boxes(data: bytes) -> list[tuple[str, int]]:
    """Top-level MP4 boxes (type, size)."""
    out, i = [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
        elif size == 0:
            size = len(data) - i
        if size < 8:
            break
        out.append((kind.decode("latin-1"), size))
        i += size
    return out


# ----------------------------------------------------------------------------- item 1 ---

def test_every_video_is_its_own_equal_size_h264_copy(demo_study):
    """One copy per (trial, side) — the intact clip of a check too — all of one size, H.264 Main
    4:2:0 that every browser plays, padded with a trailing `free` box, decodable, and no coded
    frame of one file recurs in another (so hashing bytes cannot count a clip's uses)."""
    study, folder = load_study(demo_study)
    files = sorted((folder / "media").iterdir())
    assert len({f.stat().st_size for f in files}) == 1, "file sizes differ"
    assert len(files) == len(study["videos"]) == 2 * len(study["trials"]) == 2 * (3 * 20 + 4)
    assert set(Counter(v for t in study["trials"] for v in t["videos"]).values()) == {1}
    import av
    import numpy as np

    from benchmark.video import load_npz, mp4_packets, read_video

    real = load_npz(demo_study.parent / "runs" / "moving-shapes" / "real" / "data" / "seed0" / "samples" /
                    "prediction.npz")
    seen: dict[bytes, str] = {}
    frame_sizes: set[tuple[int, ...]] = set()
    layouts: set[tuple] = set()
    moovs: set[bytes] = set()
    for f in files:
        data = f.read_bytes()
        boxes = _boxes(data)
        kinds = [k for k, _ in boxes]
        assert kinds[0] == "ftyp" and kinds.index("moov") < kinds.index("mdat") and kinds[-1] == "free", kinds
        assert sum(s for _, s in boxes) == len(data)
        layouts.add(tuple(boxes))
        start = sum(s for _, s in boxes[:kinds.index("moov")])
        moovs.add(data[start:start + dict(boxes)["moov"]])
        with av.open(str(f)) as container:
            cc = container.streams.video[0].codec_context
            assert (cc.name, cc.profile, cc.pix_fmt) == ("h264", "Main", "yuv420p")
        frames = read_video(f)
        assert frames.shape == (8, 3, 32, 32)  # 16 x 16 clips shown twice as large
        v = study["videos"][f.stem]
        if v["system"] == "real" and v["check"] is None:  # the copy shows the clip (lossy, dithered: close)
            err = np.abs(frames[:, :, ::2, ::2].astype(float) - real[v["clip"]].astype(float)).mean()
            assert err < 4, (f.name, err)
        packets = mp4_packets(f)
        for p in packets:
            assert p not in seen, f"{f.name} repeats a coded frame of {seen[p]}"
            seen[p] = f.name
        frame_sizes.add(tuple(len(p) for p in packets))
    assert len(frame_sizes) == 1, "frame i has different sizes in different files"
    # every box has the same size in every file, and the sample tables (moov) are byte-identical:
    # only the coded pictures differ
    assert len(layouts) == 1 and len(moovs) == 1


def test_export_gives_every_task_its_own_files(demo_study, tmp_path):
    import csv

    from benchmark.crowd.export import export_tasks

    files = export_tasks(demo_study, "https://cdn.example.org/s1", tmp_path / "platform")
    rows = list(csv.DictReader(files["tasks"].open()))
    urls = [r[k] for r in rows for k in ("video_left_url", "video_right_url")]
    assert len(urls) == len(set(urls)) == 2 * len(rows)
    names = {u.rsplit("/", 1)[1] for u in urls}
    assert names == {p.name for p in files["media"].iterdir()}
    assert len({(files["media"] / n).stat().st_size for n in names}) == 1


def _collect(app: CrowdApp, rater: dict) -> list[dict]:
    """Everything a bot sees of each of a rater's trials (URLs, sizes, bytes), plus the truth."""
    seen = []
    while not (nxt := app.next_payload(rater["id"]))["done"]:
        obs = {"urls": (nxt["left"], nxt["right"])}
        for side, url in zip(("left", "right"), obs["urls"]):
            data = bytes_behind(app, url)
            obs[f"{side}_size"] = len(data)
            obs[f"{side}_mdat"] = dict(_boxes(data)).get("mdat")
            obs[f"{side}_video"] = video_behind(app, url)
        seen.append(obs)
        assert app.answer(rater["token"], {"trial": nxt["trial"], "answer": "left"})[0] == 200
    return seen


def test_bot_choosing_by_url_frequency_or_file_size_scores_at_chance(demo_study, fast_tmp):
    """The issue's bot picked real 40/40 from URL frequency and file size alone; now each such bot
    is at chance on every trial with a real clip (real vs method, and attention checks).

    10 raters x (2 x 20 real-vs-method + 4 checks) = 440 trials per bot; two-sided binomial test
    against 1/2. (The bot reads the served bytes directly; HTTP adds nothing it could use: the
    Content-Range of `Range: bytes=0-0` is checked to give the same size for every URL.)
    """
    from scipy.stats import binomtest

    app = CrowdApp.open(demo_study, fast_tmp / "bot.sqlite", rng=random.Random(0))
    raters = app.ensure_raters(10)
    seen = [obs for r in raters for obs in _collect(app, r)]
    with served(app) as base:
        ranges = {http("GET", base + u, headers={"Range": "bytes=0-0"})[2]["Content-Range"] for u in seen[0]["urls"]}
        ranges |= {http("GET", base + u, headers={"Range": "bytes=0-0"})[2]["Content-Range"] for u in seen[-1]["urls"]}
    app.db.close()
    assert len(ranges) == 1, ranges
    urls = Counter(u for obs in seen for u in obs["urls"])
    assert len(seen) == 10 * len(app.study["trials"])
    assert set(urls.values()) == {1}, "a media URL was served twice"
    assert len({obs[k] for obs in seen for k in ("left_size", "right_size", "left_mdat", "right_mdat")}) == 2

    rng = random.Random(1)

    def pick(left: float, right: float, smaller: bool) -> str:
        if left == right:
            return rng.choice(("left", "right"))
        return "left" if (left < right) == smaller else "right"

    bots = {
        "URL frequency": lambda o: pick(urls[o["urls"][0]], urls[o["urls"][1]], smaller=False),
        "file size (Range: bytes=0-0)": lambda o: pick(o["left_size"], o["right_size"], smaller=True),
        "coded size (mdat box)": lambda o: pick(o["left_mdat"] or 0, o["right_mdat"] or 0, smaller=True),
    }
    report = []
    for name, bot in bots.items():
        hits = n = 0
        for o in seen:
            sides = {s: o[f"{s}_video"] for s in ("left", "right")}
            real = [s for s, v in sides.items() if v["system"] == "real" and v["check"] is None]
            if len(real) != 1:  # trials without a real clip (method vs method)
                continue
            n += 1
            hits += bot(o) == real[0]
        p = binomtest(hits, n, 0.5).pvalue
        report.append(f"{name}: picked real {hits}/{n} = {hits / n:.3f}, two-sided binomial p = {p:.3g}")
    print("\n".join(report))
    assert all(f"/{10 * (2 * 20 + 4)} " in line for line in report), report
    assert all(float(line.rsplit("= ", 1)[1]) > 0.01 for line in report), report


# ----------------------------------------------------------------------------- item 2 ---

def test_tokens_and_plan_are_keyed_by_a_secret(tmp_path):
    """Re-running the design on the same inputs (anyone with the runs can) reveals nothing."""
    a = make_study(tmp_path, "a", systems=("real", "zeta_lstm"), judgements_per_pair=4, checks=2)
    b = make_study(tmp_path, "b", systems=("real", "zeta_lstm"), judgements_per_pair=4, checks=2)
    sa, sb = load_study(a)[0], load_study(b)[0]
    assert not set(sa["videos"]) & set(sb["videos"])
    assert not {t["id"] for t in sa["trials"]} & {t["id"] for t in sb["trials"]}
    assert len(sa["secret"]) == 64 and sa["secret"] != sb["secret"]
    plan = [[(t["pair"], t["clip"], t["a_left"]) for t in s["trials"]] for s in (sa, sb)]
    assert plan[0] != plan[1]  # even the order and the sides depend on the secret
    assert (a / "study.json").stat().st_mode & 0o777 == 0o600  # the key is readable by its owner only


# ----------------------------------------------------------------------------- item 3 ---

def test_trial_ids_are_per_rater(demo_study, fast_tmp):
    app = CrowdApp.open(demo_study, fast_tmp / "ids.sqlite")
    a, b = app.ensure_raters(2)
    ids = defaultdict(list)
    for r in (a, b):
        while not (nxt := app.next_payload(r["id"]))["done"]:
            ids[r["id"]].append(nxt["trial"])
            assert app.answer(r["token"], {"trial": nxt["trial"], "answer": "left"})[0] == 200
    assert len(ids[a["id"]]) == len(ids[b["id"]]) == len(app.study["trials"])
    assert not set(ids[a["id"]]) & set(ids[b["id"]])  # a leaked answer key fits one rater only
    assert not set(ids[a["id"]]) & {t["id"] for t in app.study["trials"]}
    c = app.ensure_raters(3)[-1]
    app.next_payload(c["id"])
    status, err = app.answer(c["token"], {"trial": ids[a["id"]][0], "answer": "left"})
    assert status == 404 and err["error"] == "unknown trial"
    app.db.close()


# ----------------------------------------------------------------------------- item 4 ---

def test_sides_are_balanced_per_rater_and_check_kind_does_not_predict_side(demo_study, fast_tmp):
    """With --trials-per-rater each rater still sees each pair, each check kind and each system
    (real included) as often on the left as on the right, within one."""
    app = CrowdApp.open(demo_study, fast_tmp / "sides.sqlite", rng=random.Random(3))
    raters = app.ensure_raters(40, trials_per_rater=5)
    worst = 0
    for r in raters:
        groups: Counter = Counter()
        systems: Counter = Counter()
        while not (nxt := app.next_payload(r["id"]))["done"]:
            left, right = video_behind(app, nxt["left"]), video_behind(app, nxt["right"])
            if left["check"] or right["check"]:
                key = ("check", left["check"] or right["check"])
                groups[key] += 1 if left["check"] is None else -1  # +1: the intact clip on the left
                systems["real"] += 1 if left["check"] is None else -1
            else:
                a, b = sorted((left["system"], right["system"]))
                groups[(a, b)] += 1 if left["system"] == a else -1
                systems[left["system"]] += 1
                systems[right["system"]] -= 1
            assert app.answer(r["token"], {"trial": nxt["trial"], "answer": "left"})[0] == 200
        assert all(abs(v) <= 1 for v in groups.values()), (r["id"], groups)
        worst = max(worst, *(abs(v) for v in systems.values()))
    app.db.close()
    assert worst <= 1, f"a rater saw one system {worst} more times on one side than the other"


@pytest.mark.parametrize("secret_index", [54, 143])
def test_every_copy_differs_even_where_a_small_nudge_is_quantised_away(tmp_path, secret_index):
    """With these secrets every +-2 dither pattern of some copy left a coded frame equal to another
    copy's (the encoder quantised the nudge away), and the design gave up after 8 attempts; retries
    now nudge harder, and every coded frame of every file is unique."""
    import hashlib

    from benchmark.crowd.demo import DATASET, build_demo_runs
    from benchmark.crowd.design import StudyConfig, design_study
    from benchmark.video import mp4_packets

    build_demo_runs(tmp_path / "runs", methods=("zeta_lstm", "omega_gan"))
    cfg = StudyConfig(dataset=DATASET, task="prediction", systems=("real", "zeta_lstm", "omega_gan"),
                      judgements_per_pair=2, answers=3, checks=2, fps=64)
    secret = hashlib.sha256(f"dither-regression-{secret_index}".encode()).digest()
    study = design_study(cfg, tmp_path / "runs", tmp_path / "study", real_source="run", secret=secret)
    digests = [hashlib.sha256(p).hexdigest() for f in sorted((study.parent / "media").glob("*.mp4"))
               for p in mp4_packets(f)]
    assert digests and len(digests) == len(set(digests))
