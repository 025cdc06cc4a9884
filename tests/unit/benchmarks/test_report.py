"""The benchmark doc's summary lines for issue 32's quality margins."""

from __future__ import annotations

from benchmarks.report import _distilled_quality


def quality_row(model: float, model_low: float, network: float, network_low: float, **extra: float | list[float]) -> dict:
    return {
        "rows": [
            {"train": "VADER (lexicon, no training)", "macro_f1": 0.52},
            {
                "mean_difference": model,
                "mean_difference_ci": [model_low, model + 0.01],
                "over_runs": {"run_differences": [model, model]},
                "network_mean_difference": network,
                "network_mean_difference_ci": [network_low, network + 0.01],
                **extra,
            },
        ]
    }


def test_the_model_and_its_network_alone_must_each_clear_their_margin_with_the_interval_above_0() -> None:
    measured, met = _distilled_quality(quality_row(0.06, 0.04, 0.035, 0.02))
    assert met == "yes"
    assert measured == "model +0.0600 (+0.0400 .. +0.0700), network alone +0.0350 (+0.0200 .. +0.0450), over 2 runs"
    assert _distilled_quality(quality_row(0.06, 0.04, 0.025, 0.01))[1] == "no"  # the network alone under +0.03
    assert _distilled_quality(quality_row(0.045, 0.03, 0.035, 0.02))[1] == "no"  # the model under +0.05
    assert _distilled_quality(quality_row(0.06, -0.001, 0.035, 0.02))[1] == "no"  # an interval reaching 0


def test_a_students_line_names_its_teacher() -> None:
    measured, _ = _distilled_quality(quality_row(0.01, -0.01, -0.01, -0.02, teacher_difference=0.037, teacher_difference_ci=[0.008, 0.065]))
    assert measured.endswith("; the teacher +0.0370 (+0.0080 .. +0.0650)")
    gate = {"teacher_validation_difference": 0.031, "teacher_validation_difference_ci": [0.02, 0.042]}
    measured, _ = _distilled_quality(quality_row(0.01, -0.01, -0.01, -0.02, teacher_difference=0.037, teacher_difference_ci=[0.008, 0.065], **gate))
    assert measured.endswith("; the teacher +0.0370 (+0.0080 .. +0.0650) (validation +0.0310 (+0.0200 .. +0.0420))")
