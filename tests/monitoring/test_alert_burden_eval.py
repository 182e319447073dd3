"""eval/alert_burden.py on a small clinic: it runs, and one alert per concern raises fewer
alerts than one per signal while keeping what the old grouping detected."""

from __future__ import annotations

import re

import pytest

from eval_scripts import load_script


def _load():  # type: ignore[no-untyped-def]
    return load_script("alert_burden")


def test_the_burden_eval_prints_its_model_and_a_last_line_in_the_stated_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    burden = _load()
    burden.main(["--clinics", "1", "--clients", "40", "--seed", "3"])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[1].startswith("generative model: alliance_mean=3.7")
    last = re.fullmatch(
        r"alert burden: (\d+\.\d\d) alerts per true concern \(before (\d+\.\d\d)\); "
        r"detection (\d+)% of before",
        out[-1],
    )
    assert last is not None, out[-1]
    after, before, detection = float(last[1]), float(last[2]), int(last[3])
    assert after < before
    assert detection >= 90


def test_a_simulated_rupture_is_a_true_alliance_concern_at_its_first_session() -> None:
    import random

    burden = _load()
    model = burden.Model(rupture_rate=1.0, max_ruptures=1, miss_rate=0.0, dropout_share=0.0)
    client = burden.simulate_client(random.Random(1), model, 12)
    ruptures = [c for c in client.concerns if c.what == "rupture"]
    assert [(c.concern, c.onset) for c in ruptures] == [("alliance", 2)]
    assert all(a.status == "attended" for a in client.attendance)


def test_a_clinic_setting_for_the_new_rules_is_printed_and_a_wrong_one_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    burden = _load()
    burden.main(["--clinics", "1", "--clients", "20", "--after", "not_on_track_consecutive=2"])
    assert "'after' settings: not_on_track_consecutive=2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        burden.main(["--clinics", "1", "--clients", "2", "--after", "no_such_setting=1"])
    assert "--after" in capsys.readouterr().err


def test_before_keeps_every_signal_alone_and_the_output_breaks_alerts_down_by_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    burden = _load()
    # "before" is the rules before issue 11: weak signals alerted on their own.
    assert burden.BEFORE.weak_signals_need_support is False
    burden.main(["--clinics", "1", "--clients", "60", "--seed", "5"])
    out = capsys.readouterr().out
    for name in ("before", "after"):
        assert f"\n{name}: alerts raised per 100 clients by concern, how raised" in out
    rows = re.findall(
        r"^\s+(\d+\.\d)\s+(\d+\.\d)  (alliance|outcome|attendance|risk)\s+"
        r"(new|reopen|back to open)\s+(\S.*)$",
        out,
        flags=re.MULTILINE,
    )
    assert rows, out
    assert all(float(unfounded) <= float(raised) for raised, unfounded, *_ in rows)
    assert any(rule.startswith("rupture on wai_sr") for *_, rule in rows)
    assert re.search(r"^detected: .*rupture \d+/\d+ \(\d+\.\d%\)", out, flags=re.MULTILINE)
