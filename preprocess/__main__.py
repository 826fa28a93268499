"""`python -m preprocess VIDEO OUT_DIR [options]`: a raw talking-head video -> a person dataset."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from emogs.errors import cli_entry
from emogs.io.outputs import check_output_dir

from .config import PreprocessConfig
from .errors import PreprocessError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m preprocess", description=__doc__)
    p.add_argument("video", nargs="?", help="input video (any container/codec PyAV reads); optional when "
                   "rerunning stages that do not read it")
    p.add_argument("out", help="dataset folder (created; reruns skip finished stages)")
    p.add_argument("--stages", nargs="+", default=None, help="run only these stages")
    p.add_argument("--force", action="store_true", help="rerun the selected stages even if up to date")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    for f in fields(PreprocessConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, action="store_true", default=f.default, dest=f.name)
            if f.default:
                p.add_argument("--no-" + f.name.replace("_", "-"), action="store_false", dest=f.name)
        else:
            typ = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(flag, type=typ, default=f.default, dest=f.name)
    return p


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_output_dir(args.out, "dataset folder")
    cfg = PreprocessConfig(**{f.name: getattr(args, f.name) for f in fields(PreprocessConfig)})
    from .pipeline import run_pipeline

    try:
        manifest = run_pipeline(args.video, args.out, cfg, stages=args.stages, force=args.force,
                                progress=not args.quiet)
    except PreprocessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"dataset ready: {args.out} ({manifest.get('num_frames')} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
