from emogs.eval.summary import summary_lines


def test_summary_names_the_headline_figures_and_only_the_protocols_that_ran():
    res = {"split": "val", "num_frames": 10, "psnr": 31.234, "ssim": 0.9512, "lmd": 1.5, "fps": 40.0,
           "person_sync": {"offset_frames": 0, "confidence": 0.3}, "person_sync_truth": {"offset_frames": 0,
                                                                                         "confidence": 0.34}}
    lines = summary_lines(res)
    assert lines[0] == "val (10 frames): PSNR 31.23 dB, SSIM 0.951, LMD 1.50 px, render 40.0 FPS"
    assert "renders offset 0, confidence 0.30" in lines[1]
    assert "real frames offset 0, confidence 0.34" in lines[1]
    assert len(lines) == 2  # no held-out speech, no emotion protocol: no lines for them
    res.update(heldout_lmd=3.9, heldout_lmd_static_baseline=3.85, heldout_frames=7,
               heldout_articulation={"gap_std_px": 3.8, "truth_gap_std_px": 6.1, "gap_corr": 0.73},
               emotion={"judge": "fer", "V_SA": 0.75, "A_SA": 0.5, "E_Acc_top3": 0.58,
                        "blendshapes": {"sign_agreement": 0.85}})
    lines = summary_lines(res)
    assert "LMD 3.90 px (mouth held still: 3.85)" in lines[2] and "3.80 vs 6.10 px" in lines[2]
    assert lines[3] == "emotion (fer): V-SA 0.75, A-SA 0.50, top-3 0.58; blendshape sign agreement 0.85"


def test_summary_of_a_metric_that_was_not_computed_says_so():
    lines = summary_lines({"psnr": 20.0, "ssim": 0.8, "lmd": {"computed": False}, "fps": 9.0,
                           "person_sync": {"computed": False, "reason": "no judge"}})
    assert "LMD n/a px" in lines[0] and "renders not computed" in lines[1]
