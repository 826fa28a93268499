"""A short, human-readable summary of an evaluation result (eval.json), for the end of a command's log:
the headline figures only, one line per protocol; the file keeps everything."""

from __future__ import annotations


def _f(x, fmt: str = ".2f") -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "n/a"


def _sync(d) -> str:
    if not isinstance(d, dict) or "confidence" not in d:
        return "not computed"
    return f"offset {d.get('offset_frames')}, confidence {_f(d['confidence'])}"


def summary_lines(res: dict) -> list[str]:
    """res: the dict `tools/evaluate.py` writes -> a few lines (those whose protocol ran)."""
    head = f"{res.get('split', 'val')} ({res.get('num_frames', '?')} frames)"
    lines = [f"{head}: PSNR {_f(res.get('psnr'))} dB, SSIM {_f(res.get('ssim'), '.3f')}, "
             f"LMD {_f(res.get('lmd'))} px, render {_f(res.get('fps'), '.1f')} FPS"]
    if "person_sync" in res:
        lines.append(f"lip sync (person judge): renders {_sync(res['person_sync'])}; "
                     f"real frames {_sync(res.get('person_sync_truth'))}")
    if isinstance(res.get("sync"), dict) and res["sync"].get("computed", True) and "sync_e" in res["sync"]:
        lines.append(f"Sync-E / Sync-C: {_f(res['sync']['sync_e'])} / {_f(res['sync'].get('sync_c'))}")
    if "heldout_lmd" in res:
        art = res.get("heldout_articulation", {})
        still = _f(res.get("heldout_lmd_static_baseline"))
        lines.append(f"held-out speech ({res.get('heldout_frames')} frames): LMD {_f(res['heldout_lmd'])} px "
                     f"(mouth held still: {still}); inner-lip gap spread "
                     f"{_f(art.get('gap_std_px'))} vs {_f(art.get('truth_gap_std_px'))} px, "
                     f"correlation {_f(art.get('gap_corr'))}")
    if "heldout_person_sync" in res:
        lines.append(f"held-out lip sync (person judge): renders {_sync(res['heldout_person_sync'])}; "
                     f"true video {_sync(res.get('heldout_person_sync_truth'))}")
    emo = res.get("emotion")
    if isinstance(emo, dict) and "V_SA" in emo:
        bs = emo.get("blendshapes", {})
        sa = bs.get("sign_agreement") if isinstance(bs, dict) else None
        lines.append(f"emotion ({emo.get('judge', 'judge')}): V-SA {_f(emo['V_SA'])}, "
                     f"A-SA {_f(emo.get('A_SA'))}, top-3 {_f(emo.get('E_Acc_top3'))}; "
                     f"blendshape sign agreement {_f(sa)}")
    return lines


__all__ = ["summary_lines"]
