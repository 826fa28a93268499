"""Benchmark `python -m preprocess`: seconds per stage, real-time factor, peak RAM vs video length.

    .venv/bin/python tools/bench_preprocess.py --seconds 60                 # the issue's target clip
    .venv/bin/python tools/bench_preprocess.py --seconds 30 120 --size 512  # RAM independent of length?

Each clip (512x512 by default: the astronaut portrait moving, mouth driven by espeak-ng speech) is
made first, then preprocessed in a fresh subprocess so its peak RSS (ru_maxrss) is its own. Prints
per-stage wall and CPU seconds (CPU: all threads and worker processes, insensitive to other
jobs on the machine), total, the real-time factor (video seconds / processing seconds; > 1 = faster
than real time) and peak RAM. Emotional frames are not part of this benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_anon_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # the process just ended
        pass
    return 0.0


def _tree_rss_anon_mb() -> float:
    """RssAnon of this process and all its descendants (the fork server and the worker processes)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(_rss_anon_mb(p) for p in tree)


def _child(video: str, out: str, size: int, extractor: str) -> None:
    import resource
    import threading

    from preprocess.config import PreprocessConfig
    from preprocess.pipeline import run_pipeline

    peak_anon = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak_anon[0] = max(peak_anon[0], _tree_rss_anon_mb())
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0, c0 = time.perf_counter(), time.process_time()
    m = run_pipeline(video, out, PreprocessConfig(size=size, audio_extractor=extractor), progress=False,
                     log=lambda s: None)
    total = time.perf_counter() - t0
    # all threads of this process + the worker processes of the per-frame stages
    total_cpu = time.process_time() - c0 + sum(v.get("worker_cpu_seconds", 0.0) for v in m["stages"].values())
    done.set()
    th.join()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"total": total, "total_cpu": total_cpu, "peak_mb": peak_mb,
                      "peak_anon_mb": peak_anon[0],
                      "num_frames": m["num_frames"], "load_avg": os.getloadavg()[0],
                      "stages": {k: v["seconds"] for k, v in m["stages"].items()},
                      "cpu": {k: v.get("cpu_seconds", float("nan")) for k, v in m["stages"].items()},
                      "procs": {k: v.get("processes", 1) for k, v in m["stages"].items()}}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, nargs="+", default=[60.0])
    p.add_argument("--size", type=int, default=512, help="clip side and dataset size")
    p.add_argument("--extractor", default="whisper", choices=["whisper", "logmel"])
    p.add_argument("--keep", default=None, help="folder to keep clips and datasets in")
    p.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._child:
        _child(a._child[0], a._child[1], int(a._child[2]), a._child[3])
        return
    from preprocess.testclips import make_clip

    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_pre_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cpus={os.cpu_count()}")
    for secs in a.seconds:
        clip = work / f"clip_{int(secs)}s_{a.size}.mp4"
        if not clip.exists():
            t = time.perf_counter()
            make_clip(clip, seconds=secs, width=a.size, height=a.size)
            print(f"made {clip.name} in {time.perf_counter() - t:.1f} s")
        out = work / f"ds_{int(secs)}s_{a.size}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        cmd = [sys.executable, __file__, "--_child", str(clip), str(out), str(a.size), a.extractor]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            print(res.stderr[-3000:])
            raise SystemExit(f"preprocessing {clip} failed")
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"\n{secs:.0f} s clip, {a.size}x{a.size}, {r['num_frames']} frames, extractor={a.extractor}")
        print(f"  {'stage':16s} {'wall':>9s} {'cpu':>9s} {'procs':>5s}")
        idle = 0.0
        for name, s in r["stages"].items():
            cpu, procs = r["cpu"][name], r["procs"][name]
            idle += cpu / procs
            print(f"  {name:16s} {s:7.2f} s {cpu:7.2f} s {procs:5d}")
        print(f"  {'total':16s} {r['total']:7.2f} s {r['total_cpu']:7.2f} s   "
              f"real-time factor {secs / r['total']:.2f}x "
              f"({'faster' if r['total'] < secs else 'slower'} than real time)")
        print(f"  idle-machine estimate {idle:7.2f} s (sum of cpu / procs; real-time factor "
              f"{secs / idle:.2f}x; an estimate, not a measurement)")
        print(f"  peak RAM         {r['peak_anon_mb']:7.0f} MB anonymous, incl. worker processes "
              "(sampled every 0.1 s)")
        print(f"  peak RSS         {r['peak_mb']:7.0f} MB (+ mapped dataset pages the kernel can drop)")
        print(f"  load average     {r['load_avg']:7.1f} on {os.cpu_count()} cpus (other jobs slow this run)")
    if not a.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
