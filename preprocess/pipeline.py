"""Stage runner: each stage reruns alone, skips when its inputs are unchanged, writes atomically,
shows progress, records itself in the manifest, and a killed run resumes at the first unfinished
stage.

Skipping: a stage's `inputs_hash` hashes its version, its config parameters, the source video's
sha256 (decode) and the `inputs_hash` of the stages it depends on (a Merkle chain: changing the
video or an upstream parameter invalidates everything downstream, nothing else). A stage is skipped
when the manifest holds the same hash and all its outputs exist.

Adding a stage is a few lines:

    def run_mine(ctx: StageContext) -> dict:
        x = ctx.load("landmarks.npy")            # memmap
        save_npy(ctx.path("mine.npy"), ...)
        return {"backend": "geometry"}          # recorded in manifest["stages"]["mine"]
    register_stage(Stage("mine", run_mine, outputs=("mine.npy",), depends=("landmarks",)))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from emogs.data.schema import FORMAT_VERSION, MANIFEST, manifest_so_far
from emogs.io.atomic import save_json

from .config import PreprocessConfig
from .context import Stage, StageContext
from .errors import StageError
from .io_utils import hash_obj, sha256_file
from .stages import DEFAULT_STAGES

# The stages a run knows, in run order: the default ones (stages.py) plus any `register_stage` adds.
STAGES: list[Stage] = list(DEFAULT_STAGES)



def register_stage(stage: Stage, before: str | None = None) -> None:
    """Add (or replace) a stage; `before`: insert ahead of that stage (default: at the end)."""
    for i, s in enumerate(STAGES):
        if s.name == stage.name:
            STAGES[i] = stage
            return
    if before is not None:
        names = [s.name for s in STAGES]
        if before not in names:
            raise StageError(f"unknown stage {before!r}", f"use one of {names}")
        STAGES.insert(names.index(before), stage)
    else:
        STAGES.append(stage)


def stage_names(include_optional: bool = False) -> list[str]:
    return [s.name for s in STAGES if include_optional or not s.optional]


def inputs_hash(stage: Stage, cfg: PreprocessConfig, manifest: dict) -> str:
    upstream = {}
    for dep in stage.depends:
        rec = manifest.get("stages", {}).get(dep)
        upstream[dep] = rec["inputs_hash"] if rec else None
    src = manifest.get("source", {}).get("sha256") if stage.needs_video else None
    return hash_obj({"stage": stage.name, "version": stage.version, "params": cfg.stage_params(stage.params),
                     "upstream": upstream, "source": src})


def is_current(stage: Stage, cfg: PreprocessConfig, manifest: dict, out: Path) -> bool:
    rec = manifest.get("stages", {}).get(stage.name)
    if not rec or rec.get("inputs_hash") != inputs_hash(stage, cfg, manifest):
        return False
    return all((out / o).exists() for o in rec.get("outputs", stage.outputs))


def run_pipeline(video: str | Path | None, out: str | Path, cfg: PreprocessConfig | None = None,
                 stages: list[str] | None = None, force: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> dict:
    """Run the stages (all by default, in order) and return the manifest.

    `stages`: only these (their upstream stages must be current); `force`: rerun them even if current.
    `video` may be None to rerun stages that do not read the video on an existing dataset.
    """
    cfg = cfg or PreprocessConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = manifest_so_far(out)
    if manifest and manifest.get("format_version") not in (None, FORMAT_VERSION):
        raise StageError(f"{out} holds a dataset of format_version {manifest.get('format_version')!r}; this "
                         f"emogs writes version {FORMAT_VERSION}",
                         "write to a new folder or delete the old dataset")
    manifest["format_version"] = FORMAT_VERSION
    manifest.setdefault("stages", {})
    if video is not None:
        video = Path(video)
        from .decode import probe

        info = probe(video)  # raises a clear error for unreadable inputs
        sha = sha256_file(video)
        manifest["source"] = {"path": str(video), "sha256": sha, "fps": info.fps,
                              "duration_s": info.duration_s, "width": info.width, "height": info.height,
                              "rotation": info.rotation, "has_audio": info.has_audio}
    elif "source" not in manifest:
        raise StageError(f"{out} has no dataset yet", "give the video: python -m preprocess VIDEO OUT_DIR")

    names = [s.name for s in STAGES]
    todo = stages or [s.name for s in STAGES if not s.optional]
    unknown = [n for n in todo if n not in names]
    if unknown:
        raise StageError(f"unknown stage(s) {unknown}", f"choose from {names}")
    ctx = StageContext(out=out, cfg=cfg, manifest=manifest, video=video, progress=progress, log=log)
    for stage in STAGES:
        if stage.name not in todo:
            continue
        for dep in stage.depends:
            dep_stage = next(s for s in STAGES if s.name == dep)
            if not is_current(dep_stage, cfg, manifest, out):
                if dep in todo:
                    raise StageError(f"stage {dep} did not complete", "see the error above")
                raise StageError(f"stage '{stage.name}' needs '{dep}', which is missing or out of date",
                                 f"run `python -m preprocess VIDEO {out} --stages {dep} {stage.name}` "
                                 "(or run all stages)")
        if not force and is_current(stage, cfg, manifest, out):
            log(f"[{stage.name}] up to date, skipped")
            continue
        if stage.needs_video and video is None:
            raise StageError(f"stage '{stage.name}' reads the video", "give the video path")
        h = inputs_hash(stage, cfg, manifest)
        if manifest["stages"].pop(stage.name, None) is not None:  # not current until it finishes
            save_json(out / MANIFEST, manifest)
        log(f"[{stage.name}] running")
        t0, c0 = time.perf_counter(), time.process_time()
        ctx.warnings = []
        rec = dict(stage.run(ctx) or {})
        seconds = time.perf_counter() - t0
        # CPU seconds (all threads, + worker processes): what the stage costs independent of machine load
        worker_cpu = float(rec.pop("worker_cpu_s", 0.0))
        cpu = time.process_time() - c0 + worker_cpu
        missing = [o for o in rec.get("outputs", stage.outputs) if not (out / o).exists()]
        if missing:
            raise StageError(f"stage '{stage.name}' finished without writing {missing}",
                             "this is a bug: report it")
        manifest.update(rec.pop("manifest", {}))
        record = {"version": stage.version, "inputs_hash": h, "backend": rec.pop("backend", None),
                  "weights": rec.pop("weights", None), "seconds": round(seconds, 3),
                  "cpu_seconds": round(cpu, 3), "worker_cpu_seconds": round(worker_cpu, 3),
                  "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "outputs": list(rec.pop("outputs", stage.outputs))}
        if ctx.warnings:
            record["warnings"] = list(ctx.warnings)
        record.update(rec)
        manifest["stages"][stage.name] = record
        save_json(out / MANIFEST, manifest)
        log(f"[{stage.name}] done in {seconds:.1f} s")
    save_json(out / MANIFEST, manifest)
    return manifest
