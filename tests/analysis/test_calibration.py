"""Post-hoc calibration: the formula on synthetic logits, reading it from labels.json, and the
coders applying it to what they return."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from alliance.analysis import classifiers as clf
from alliance.analysis.calibration import (
    IDENTITY,
    LOW_CONFIDENCE_THRESHOLD,
    Calibration,
    calibrations_from_meta,
    is_low_confidence,
)

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-3.0, 4.0, 0.0]])


def test_a_temperature_on_softmax_probabilities_is_temperature_scaling_of_the_logits() -> None:
    probs = clf.softmax(LOGITS)
    for t in (0.5, 2.0):
        got = Calibration(temperature=t).apply(probs)
        np.testing.assert_allclose(got, clf.softmax(LOGITS / t), atol=1e-12)
        # T > 1 softens (lower top probability), T < 1 sharpens; the top class never moves.
        assert (got.argmax(axis=1) == probs.argmax(axis=1)).all()
        assert ((got.max(axis=1) < probs.max(axis=1)) == (t > 1)).all()


def test_a_log_prior_shift_adds_to_the_scaled_logits_and_moves_mass_between_classes() -> None:
    probs = clf.softmax(LOGITS)
    cal = Calibration(temperature=0.8, log_prior_shift=(0.0, 1.0, -0.5))
    got = cal.apply(probs)
    np.testing.assert_allclose(got, clf.softmax(LOGITS / 0.8 + [0.0, 1.0, -0.5]), atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    # The middle row's top class was the third; a +1 shift on the second takes it over.
    assert probs[1].argmax() == 2
    assert got[1].argmax() == 1
    # Worked example: row [0.1, 0.2, 0.3] at T=0.8 plus the shift.
    z = np.array([0.1, 0.2, 0.3]) / 0.8 + [0.0, 1.0, -0.5]
    assert got[1, 1] == pytest.approx(np.exp(z[1]) / np.exp(z).sum())


def test_the_identity_changes_nothing_and_a_zero_probability_stays_finite() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    assert IDENTITY.is_identity
    np.testing.assert_array_equal(IDENTITY.apply(probs), probs)
    got = Calibration(temperature=2.0, log_prior_shift=(0.0, 0.5, 0.0)).apply(probs)
    assert np.isfinite(got).all()
    assert got[0, 0] > 0.99


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_temperature_is_refused(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        Calibration(temperature=temperature)


def test_a_shift_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="3 labels"):
        Calibration.from_json({"temperature": 1.0, "log_prior_shift": [0, 1]}, ["a", "b", "c"])
    with pytest.raises(ValueError, match="2 class shifts for 3 classes"):
        Calibration(log_prior_shift=(0.0, 1.0)).apply(clf.softmax(LOGITS))


def test_calibrations_are_read_per_backend_and_role_with_identity_for_what_is_absent() -> None:
    meta = {"calibration": {"fast": {"client": {"temperature": 2.0, "log_prior_shift": [0, 1, 2]}}}}
    roles = {"therapist": ["x", "y"], "client": ["a", "b", "c"]}
    fast = calibrations_from_meta(meta, "fast", roles)
    assert fast["client"] == Calibration(2.0, (0.0, 1.0, 2.0))
    assert fast["therapist"] is IDENTITY
    assert calibrations_from_meta(meta, "accurate", roles)["client"] is IDENTITY
    assert calibrations_from_meta({}, "fast", roles)["client"] is IDENTITY


def test_the_shipped_labels_carry_a_calibration_fitted_on_annomi_dev() -> None:
    meta = json.loads((clf.default_models_dir() / clf.LABELS_FILE).read_text("utf-8"))
    section = meta["calibration"]
    assert "AnnoMI dev" in section["fitted_on"]
    assert "test" not in section["fitted_on"].replace("never test", "")
    labels = {"therapist": clf.THERAPIST_LABELS, "client": clf.CLIENT_LABELS}
    for backend in ("accurate", "fast"):
        for role, role_labels in labels.items():
            assert Calibration.from_json(section[backend][role], role_labels).temperature > 0
    assert len(section["accurate"]["client"]["log_prior_shift"]) == len(clf.CLIENT_LABELS)


def _fast_dir(tmp_path: Path, calibration: dict[str, object] | None) -> Path:
    for name in (clf.FAST_VOCAB_FILE, clf.FAST_WEIGHTS_FILE):
        shutil.copy(clf.default_models_dir() / name, tmp_path / name)
    if calibration is not None:
        (tmp_path / clf.LABELS_FILE).write_text(json.dumps({"calibration": calibration}))
    return tmp_path


TEXTS = ["I really want to stop drinking.", "I don't know.", "It's fine, I won't change."]


def test_a_coder_returns_calibrated_probabilities_and_keeps_its_own_on_request(
    tmp_path: Path,
) -> None:
    shift = [0.0, 2.0, -1.0]
    models = _fast_dir(
        tmp_path, {"fast": {"client": {"temperature": 0.5, "log_prior_shift": shift}}}
    )
    coder = clf.load_coder("fast", models_dir=models)
    raw = coder.probabilities("client", TEXTS, [""] * 3, calibrated=False)
    expected = Calibration(0.5, tuple(shift)).apply(raw)
    np.testing.assert_allclose(coder.probabilities("client", TEXTS, [""] * 3), expected)
    for prediction, row in zip(coder.client_talk(TEXTS, [""] * 3), expected, strict=True):
        assert prediction.label == clf.CLIENT_LABELS[int(row.argmax())]
        assert prediction.confidence == pytest.approx(row.max())
        assert prediction.probabilities["neutral"] == pytest.approx(row[1])
    # The therapist head has no entry here: its probabilities are the model's own.
    np.testing.assert_allclose(
        coder.probabilities("therapist", TEXTS, [""] * 3),
        coder.probabilities("therapist", TEXTS, [""] * 3, calibrated=False),
    )
    uncalibrated = clf.load_coder("fast", models_dir=models, calibrated=False)
    assert uncalibrated is not coder
    np.testing.assert_allclose(uncalibrated.probabilities("client", TEXTS, [""] * 3), raw)


def test_without_labels_json_the_fast_coder_is_uncalibrated(tmp_path: Path) -> None:
    coder = clf.load_coder("fast", models_dir=_fast_dir(tmp_path, None))
    assert all(cal.is_identity for cal in coder.calibration.values())


def test_the_shipped_coders_apply_the_shipped_calibration() -> None:
    coder = clf.load_coder("fast")
    raw = coder.probabilities("client", TEXTS, [""] * 3, calibrated=False)
    cal = coder.calibration["client"]
    assert not cal.is_identity
    np.testing.assert_allclose(coder.probabilities("client", TEXTS, [""] * 3), cal.apply(raw))


def test_low_confidence_is_below_the_documented_threshold() -> None:
    assert LOW_CONFIDENCE_THRESHOLD == 0.5
    assert is_low_confidence(0.49)
    assert not is_low_confidence(0.5)
