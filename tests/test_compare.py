"""Tests of themekit.compare against values worked out by hand."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from themekit.compare import Scores, agreement, compare, contingency_markdown, methods_paragraph
from themekit.compare.matching import at_least
from themekit.config import EvaluationConfig
from themekit.errors import UserError


def _cells(table: dict[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    """Expand {(machine, human): count} into two parallel code lists."""
    machine: list[str] = []
    human: list[str] = []
    for (m, h), count in table.items():
        machine += [m] * count
        human += [h] * count
    return machine, human


def _guided(machine: list[str], human: list[str], **kw: object) -> Scores:
    """Score a guided coding: candidate theme = the machine code's position."""
    order = sorted(set(machine))
    themes = [order.index(m) for m in machine]
    return compare(themes, human, codebook_theme=machine, bootstrap=0, **kw)  # type: ignore[arg-type]


# --- segment-level agreement on tiny tables -----------------------------------------------


def test_two_by_two_table_of_ten() -> None:
    # rows = machine, columns = human
    #            human a  human b
    # machine a     4        1      (5)
    # machine b     2        3      (5)
    #              (6)      (4)     n = 10
    machine, human = _cells({("a", "a"): 4, ("a", "b"): 1, ("b", "a"): 2, ("b", "b"): 3})
    s = _guided(machine, human)
    # p_o = (4 + 3) / 10 = 0.7;  p_e = 0.5*0.6 + 0.5*0.4 = 0.5;  kappa = 0.2 / 0.5 = 0.4
    assert s.percent_agreement == pytest.approx(0.7)
    assert s.cohen_kappa == pytest.approx(0.4)
    # alpha: 20 values, n_a = 5 + 6 = 11, n_b = 9, 3 disagreeing units
    # alpha = 1 - (20 - 1) * 2*3 / (20^2 - 11^2 - 9^2) = 1 - 114/198 = 14/33
    assert s.krippendorff_alpha == pytest.approx(14 / 33)
    # a: TP 4, P = 4/5, R = 4/6, F1 = 2*4/(5+6) = 8/11
    # b: TP 3, P = 3/5, R = 3/4, F1 = 2*3/(5+4) = 2/3;  macro = (8/11 + 2/3)/2 = 23/33
    a, b = s.per_theme["a"], s.per_theme["b"]
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.8, 4 / 6, 8 / 11))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((0.6, 0.75, 2 / 3))
    assert (a["support"], b["support"]) == (6, 4)
    assert s.macro_f1 == pytest.approx(23 / 33)
    assert s.segment_mapping == "codebook_theme"


def test_three_category_table_of_ten() -> None:
    #            A  B  C
    # machine A  3  1  0   (4)
    # machine B  0  2  1   (3)
    # machine C  1  0  2   (3)
    #           (4)(3)(3)
    machine, human = _cells(
        {("A", "A"): 3, ("A", "B"): 1, ("B", "B"): 2, ("B", "C"): 1, ("C", "C"): 2, ("C", "A"): 1}
    )
    s = _guided(machine, human)
    # p_o = 7/10; p_e = .4*.4 + .3*.3 + .3*.3 = .34; kappa = .36/.66 = 6/11
    assert s.cohen_kappa == pytest.approx(6 / 11)
    # n_A = 8, n_B = 6, n_C = 6: alpha = 1 - 19*2*3 / (400 - 64 - 36 - 36) = 1 - 114/264 = 25/44
    assert s.krippendorff_alpha == pytest.approx(25 / 44)
    # F1: A 2*3/(4+4) = 3/4, B 2*2/(3+3) = 2/3, C 2/3; macro = (3/4 + 4/3)/3 = 25/36
    assert s.macro_f1 == pytest.approx(25 / 36)


def test_vectorised_alpha_equals_krippendorff_package() -> None:
    rng = np.random.default_rng(3)
    for k in (2, 3, 5):
        m = rng.integers(0, k, 57)
        h = np.where(rng.random(57) < 0.6, m, rng.integers(0, k, 57))
        cm = agreement.confusion(m, h, k)
        assert float(agreement.alpha_nominal(cm)) == pytest.approx(
            agreement.krippendorff_alpha(m, h)
        )


def test_perfect_coding_scores_one() -> None:
    human = ["support"] * 4 + ["giving_back"] * 3 + ["leader_hope"] * 3 + ["other"] * 2
    s = compare([0] * 4 + [1] * 3 + [2] * 3 + [3] * 2, human, bootstrap=50)
    assert s.cohen_kappa == 1.0
    assert s.krippendorff_alpha == pytest.approx(1.0)
    assert s.macro_f1 == 1.0
    assert s.percent_agreement == 1.0
    for name in ("cohen_kappa", "krippendorff_alpha", "macro_f1", "percent_agreement"):
        assert s.confidence_intervals[name] == {
            "low": pytest.approx(1.0),
            "high": pytest.approx(1.0),
        }


def test_relabelled_perfect_clustering() -> None:
    human = ["support"] * 5 + ["giving_back"] * 4 + ["leader_hope"] * 3 + ["other"] * 3
    label = {"support": 7, "giving_back": 2, "leader_hope": 0, "other": 4}  # permuted ids
    s = compare([label[c] for c in human], human, bootstrap=0)
    assert s.ari == pytest.approx(1.0)
    assert s.nmi == pytest.approx(1.0)
    assert s.ami == pytest.approx(1.0)
    assert s.v_measure == pytest.approx(1.0)
    assert s.theme_recall == 1.0
    assert s.recovered_themes == ["giving_back", "leader_hope", "support"]
    assert s.missing_themes == []
    # theme 4 is the 'other' theme: it matches no codebook theme, so precision is 3 of 4
    assert s.unmatched_themes == [4]
    assert s.theme_precision == pytest.approx(0.75)
    assert s.cohen_kappa == 1.0
    assert s.matching["theme_to_code"] == {
        "0": "leader_hope",
        "2": "giving_back",
        "4": "other",
        "7": "support",
        "-1": "other",
    }


def test_everything_in_one_theme_scores_kappa_zero() -> None:
    human = ["support"] * 4 + ["giving_back"] * 3 + ["leader_hope"] * 2 + ["other"] * 1
    s = compare([5] * 10, human, bootstrap=20)
    assert s.cohen_kappa == 0.0
    assert s.confidence_intervals["cohen_kappa"] == {"low": 0.0, "high": 0.0}
    assert s.ari == pytest.approx(0.0)
    assert s.nmi == pytest.approx(0.0)
    # the single theme holds all 4 support segments but is only 40% support
    assert s.theme_recall == 0.0
    # the same when a guided coding puts every segment in one codebook theme
    g = compare([0] * 10, human, codebook_theme=["support"] * 10, bootstrap=0)
    assert g.cohen_kappa == 0.0
    assert g.percent_agreement == pytest.approx(0.4)


def test_single_category_everywhere_alpha_undefined() -> None:
    s = compare([0, 0, 0], ["support"] * 3, bootstrap=10)
    assert s.cohen_kappa == 0.0  # 0/0 by the documented convention
    assert s.krippendorff_alpha is None
    assert s.confidence_intervals["krippendorff_alpha"] is None
    json.dumps(s.to_dict(), allow_nan=False)


def test_outlier_rate_and_outliers_coded_other() -> None:
    human = ["support"] * 4 + ["giving_back"] * 4 + ["other"] * 4
    themes = [0, 0, 0, -1, 1, 1, 1, -1, 2, 2, -1, 2]
    s = compare(themes, human, bootstrap=0)
    assert s.outlier_rate == pytest.approx(3 / 12)
    assert s.counts["n_outliers"] == 3
    assert s.contingency["-1"] == {"support": 1, "giving_back": 1, "other": 1}
    # machine: outliers -> other, so the two non-other outliers disagree and 'other' agrees
    assert s.percent_agreement == pytest.approx(10 / 12)
    # support: 3 of its 4 segments in theme 0, which is all support -> recovered
    assert s.recovered_themes == ["giving_back", "support"]


# --- recovery -------------------------------------------------------------------------


def _half_and_half() -> tuple[list[int], list[str]]:
    # theme 0: 2 support + 2 giving_back; theme 1: 2 support + 3 leader_hope; theme 2: 2 giving_back
    human = ["support", "support", "giving_back", "giving_back"]  # theme 0
    human += ["support", "support", "leader_hope", "leader_hope", "leader_hope"]  # theme 1
    human += ["giving_back"] * 2  # theme 2
    themes = [0] * 4 + [1] * 5 + [2] * 2
    return themes, human


def test_recovery_at_exactly_the_threshold() -> None:
    themes, human = _half_and_half()
    # support (4 segments): theme 0 holds 2/4 = 0.5 and is 2/4 = 0.5 support -> recovered at 0.5
    # giving_back (4): theme 0 holds 2/4 and is 2/4 giving_back -> recovered; theme 2 holds
    #   2/4 and is 2/2 -> recovered too
    # leader_hope (3): theme 1 holds 3/3 and is 3/5 = 0.6 leader_hope -> recovered at 0.5, 0.6
    s = compare(themes, human, recovery_threshold=0.5, bootstrap=0)
    assert s.per_theme["support"]["recovered_by"] == [0]
    assert s.per_theme["giving_back"]["recovered_by"] == [0, 2]
    assert s.theme_recall == 1.0
    s6 = compare(themes, human, recovery_threshold=0.6, bootstrap=0)
    assert s6.recovered_themes == ["leader_hope"]
    assert s6.missing_themes == ["giving_back", "support"]
    assert s6.theme_recall == pytest.approx(1 / 3)
    s61 = compare(themes, human, recovery_threshold=0.61, bootstrap=0)
    assert s61.theme_recall == 0.0


def test_recovery_needs_both_conditions() -> None:
    # support has 6 segments; theme 0 holds 5 of them (0.83) but is only 5/11 = 0.45 support
    human = ["support"] * 5 + ["giving_back"] * 6 + ["support"]
    themes = [0] * 11 + [1]
    s = compare(themes, human, bootstrap=0)
    assert s.per_theme["support"]["recovered"] is False
    # theme 1 is pure support but holds only 1/6 of it
    assert s.per_theme["support"]["themes"][1] == {
        "theme": 1,
        "count": 1,
        "share_of_code": pytest.approx(1 / 6),
        "share_of_theme": 1.0,
    }
    # giving_back: theme 0 holds 6/6 and is 6/11 = 0.55 giving_back -> recovered
    assert s.recovered_themes == ["giving_back"]


def test_codebook_theme_never_coded_counts_in_recall() -> None:
    human = ["support"] * 3 + ["other"] * 2
    s = compare(
        [0, 0, 0, 1, 1], human, codebook_ids=["support", "giving_back", "leader_hope"], bootstrap=0
    )
    assert s.codebook_themes == ["support", "giving_back", "leader_hope"]
    assert s.recovered_themes == ["support"]
    assert s.missing_themes == ["giving_back", "leader_hope"]
    assert s.theme_recall == pytest.approx(1 / 3)
    assert s.per_theme["giving_back"]["support"] == 0
    assert s.per_theme["giving_back"]["recall"] is None


def test_split_theme_many_to_one() -> None:
    # the machine splits support into themes 0 and 1; both are pure support
    human = ["support"] * 6 + ["giving_back"] * 4
    themes = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    s = compare(themes, human, bootstrap=0)
    many = s.matching["many_to_one"]
    assert many["0"]["code"] == many["1"]["code"] == "support"
    assert s.theme_precision == 1.0
    # one-to-one pairs only one of the halves with support; the other joins it by majority
    how = s.matching["theme_to_code_how"]
    assert sorted([how["0"], how["1"]]) == ["majority", "one_to_one"]
    assert s.percent_agreement == 1.0
    # support: theme 0 holds 3/6 = exactly half -> recovered at 0.5
    assert s.per_theme["support"]["recovered_by"] == [0, 1]


def test_at_least_is_exact_on_simple_fractions() -> None:
    assert at_least(3, 5, 0.6)
    assert at_least(1, 3, 1 / 3)
    assert not at_least(2, 5, 0.6)
    assert not at_least(0, 0, 0.5)


# --- secondary codes, translation pairs, languages ------------------------------------


def test_secondary_codes_rescue_disagreements() -> None:
    human = ["support", "support", "giving_back", "giving_back", "other"]
    machine = ["support", "giving_back", "giving_back", "leader_hope", "other"]
    second = [None, "giving_back", "leader_hope", "support", ""]
    s = compare([0, 1, 1, 2, 3], human, codebook_theme=machine, secondary_codes=second, bootstrap=0)
    sec = s.secondary
    assert sec is not None
    # segment 1: machine giving_back = secondary -> rescued; segment 3: leader_hope != support
    # segment 2 already agrees, so its secondary code does not count
    assert sec["rescued"] == 1
    assert sec["rescued_indices"] == [1]
    assert sec["n_with_secondary"] == 3
    assert sec["percent_agreement"] == pytest.approx(3 / 5)
    assert sec["percent_agreement_with_secondary"] == pytest.approx(4 / 5)
    # primary numbers are untouched
    assert s.percent_agreement == pytest.approx(3 / 5)
    # with rescue: machine vs lenient human, 4 of 5 agree;
    # machine marginals: support 1, giving_back 2, leader_hope 1, other 1
    # lenient human:     support 1, giving_back 3, other 1
    # p_e = (1*1 + 2*3 + 0 + 1*1)/25 = 8/25; kappa = (4/5 - 8/25)/(1 - 8/25) = 12/17
    assert sec["cohen_kappa_with_secondary"] == pytest.approx(12 / 17)


def test_translation_pairs_together() -> None:
    human = ["support"] * 8
    themes = [0, 0, 1, 2, 3, -1, 4, 4]
    pairs = [(0, 1), (2, 3), (4, 5), (6, 7)]
    s = compare(themes, human, translation_pairs=pairs, bootstrap=0)
    t = s.translation_pairs_together
    assert t == {
        "n_pairs": 4,
        "together": 2,
        "with_outlier": 1,
        "share": 0.5,
        "n_pairs_not_scored": 0,
    }
    # a pair with a segment outside the evaluation mask is not scored
    mask = [True] * 7 + [False]
    t2 = compare(themes, human, translation_pairs=pairs, eval_mask=mask, bootstrap=0)
    assert t2.translation_pairs_together is not None
    assert t2.translation_pairs_together["n_pairs"] == 3
    assert t2.translation_pairs_together["share"] == pytest.approx(1 / 3)
    with pytest.raises(UserError, match="translation pair"):
        compare(themes, human, translation_pairs=[(0, 8)], bootstrap=0)


def test_language_mixing() -> None:
    themes = [0, 0, 1, 1, 1, 2, -1, 3, 3]
    langs = ["ms", "en", "ms", "ms", "unknown", "mixed", "en", "en", "unknown"]
    s = compare(themes, ["other"] * 9, languages=langs, bootstrap=0)
    # theme 0 (ms + en) holds both: 2 segments; theme 1 (ms, ms, unknown): no, 2 known segments;
    # theme 2 (one mixed segment) holds both: 1; theme 3 (en, unknown): no, 1 known segment.
    # share = (2 + 1) / (2 + 2 + 1 + 1) = 0.5; the outlier and unknowns are left out
    assert s.language_mixing == pytest.approx(0.5)
    assert s.per_theme_languages is not None
    assert s.per_theme_languages["0"]["both_languages"] is True
    assert s.per_theme_languages["1"] == {
        "ms": 2,
        "en": 0,
        "mixed": 0,
        "unknown": 1,
        "both_languages": False,
    }
    assert s.per_theme_languages["2"]["both_languages"] is True
    assert "-1" not in s.per_theme_languages
    assert compare(themes, ["other"] * 9, bootstrap=0).language_mixing is None


# --- masks, output, text --------------------------------------------------------------


def test_eval_mask_and_uncoded_segments_are_not_scored() -> None:
    themes = [0, 0, 1, 1, 0, 1]
    human: list[str | None] = ["support", "support", "other", "other", "other", None]
    mask = [True, True, True, True, False, True]
    s = compare(themes, human, eval_mask=mask, bootstrap=0)
    assert s.n_segments == 4
    assert s.counts == {
        "n_total": 6,
        "n_scored": 4,
        "n_without_hand_code": 1,
        "n_outside_eval_mask": 1,
        "n_outliers": 0,
    }
    assert s.percent_agreement == 1.0
    with pytest.raises(UserError, match="no segment to score"):
        compare(themes, human, eval_mask=[False] * 6)


def test_json_round_trip() -> None:
    rng = np.random.default_rng(0)
    n = 60
    codes = ["support", "giving_back", "leader_hope", "other"]
    human = [codes[i] for i in rng.integers(0, 4, n)]
    themes = [int(t) for t in rng.integers(-1, 5, n)]
    s = compare(
        themes,
        human,
        secondary_codes=[codes[i] if i < 4 else None for i in rng.integers(0, 8, n)],
        languages=[["ms", "en", "mixed", "unknown"][i] for i in rng.integers(0, 4, n)],
        translation_pairs=[(0, 1), (2, 3)],
        codebook_ids=codes[:3],
        bootstrap=100,
    )
    d = s.to_dict()
    for key in (
        "theme_recall",
        "theme_precision",
        "outlier_rate",
        "cohen_kappa",
        "krippendorff_alpha",
        "macro_f1",
        "ari",
        "nmi",
        "language_mixing",
        "ami",
        "v_measure",
        "percent_agreement",
        "n_segments",
        "confidence_intervals",
        "per_theme",
        "matching",
        "unmatched_themes",
        "recovered_themes",
        "missing_themes",
        "contingency",
        "secondary",
        "translation_pairs_together",
        "definitions",
    ):
        assert key in d
    text = json.dumps(d, allow_nan=False)
    back = Scores.from_dict(json.loads(text))
    assert back == s
    assert type(d["cohen_kappa"]) is float
    assert type(d["per_theme"]["support"]["themes"][0]["share_of_code"]) is float
    with pytest.raises(UserError, match="missing the keys"):
        Scores.from_dict({"n_segments": 3})


def test_bootstrap_is_seeded_fast_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(5)
    n = 330
    human = [["support", "giving_back", "leader_hope", "other"][i] for i in rng.integers(0, 4, n)]
    order = sorted(set(human))
    themes = [order.index(h) if rng.random() < 0.7 else int(rng.integers(0, 4)) for h in human]
    start = time.perf_counter()
    a = compare(themes, human, bootstrap=1000, seed=1)
    assert time.perf_counter() - start < 2.0
    b = compare(themes, human, bootstrap=1000, seed=1)
    c = compare(themes, human, bootstrap=1000, seed=2)
    assert a.confidence_intervals == b.confidence_intervals
    assert a.confidence_intervals != c.confidence_intervals
    for name in ("cohen_kappa", "krippendorff_alpha", "percent_agreement", "macro_f1"):
        iv = a.confidence_intervals[name]
        assert iv["low"] < getattr(a, name) < iv["high"]
        assert iv["high"] - iv["low"] < 0.25
    wide = compare(themes, human, bootstrap=1000, seed=1, confidence=0.99)
    assert (
        wide.confidence_intervals["cohen_kappa"]["low"]
        < a.confidence_intervals["cohen_kappa"]["low"]
    )


def test_methods_paragraph_and_table() -> None:
    human = ["support"] * 5 + ["giving_back"] * 4 + ["leader_hope"] * 3 + ["other"] * 3
    themes = [0] * 5 + [1] * 4 + [2] * 2 + [3] + [3] * 2 + [-1]
    s = compare(themes, human, languages=["ms"] * 8 + ["en"] * 7, bootstrap=200)
    text = methods_paragraph(s)
    assert f"Cohen's κ = {s.cohen_kappa:.2f} (95% CI" in text
    assert f"Krippendorff's α = {s.krippendorff_alpha:.2f}" in text
    assert "over 15 segments" in text
    assert "recovered 3 of 3 codebook themes" in text
    assert "at least half of its segments and is at least half made of them" in text
    assert methods_paragraph(s.to_dict()) == text
    table = contingency_markdown(s)
    lines = table.splitlines()
    assert lines[0] == (
        "| Candidate theme | giving_back | leader_hope | support | other | Total | Mostly (purity) |"
    )
    assert lines[2] == "| 0 | 0 | 0 | 5 | 0 | 5 | support (100%) |"
    assert lines[-2].startswith("| outliers | 0 | 0 | 0 | 1 | 1 |")
    assert lines[-1] == "| Total | 4 | 3 | 5 | 3 | 15 |  |"


def test_input_errors_name_the_parameter() -> None:
    with pytest.raises(UserError, match="'hand_codes' must have one entry per segment"):
        compare([0, 1], ["support"])
    with pytest.raises(UserError, match="'theme_ids' must be >= -1"):
        compare([0, -2], ["support", "other"])
    with pytest.raises(UserError, match="'languages' must be among"):
        compare([0, 1], ["support", "other"], languages=["ms", "malay"])
    with pytest.raises(UserError, match="'recovery_threshold'"):
        compare([0, 1], ["support", "other"], recovery_threshold=0.0)


def test_evaluation_config_feeds_compare() -> None:
    cfg = EvaluationConfig()
    s = compare(
        [0, 1],
        ["support", "other"],
        other_id="other",
        recovery_threshold=cfg.recovery_threshold,
        bootstrap=10,
        confidence=cfg.confidence,
        seed=0,
    )
    assert s.settings["other_id"] == "other"
    assert s.codebook_themes == ["support"]


# --- properties -----------------------------------------------------------------------

_codes = st.sampled_from(["support", "giving_back", "leader_hope", "other"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-1, 4), _codes, _codes), min_size=1, max_size=40),
    st.booleans(),
    st.floats(0.05, 1.0),
)
def test_scores_stay_in_range(
    rows: list[tuple[int, str, str]], guided: bool, threshold: float
) -> None:
    themes = [r[0] for r in rows]
    human = [r[1] for r in rows]
    machine = [r[2] for r in rows] if guided else None
    s = compare(themes, human, codebook_theme=machine, recovery_threshold=threshold, bootstrap=20)
    assert -1.0 - 1e-12 <= s.cohen_kappa <= 1.0 + 1e-12
    for value in (s.theme_recall, s.theme_precision):
        assert value is None or 0.0 <= value <= 1.0
    assert 0.0 <= s.percent_agreement <= 1.0
    assert 0.0 <= s.macro_f1 <= 1.0
    assert 0.0 <= s.outlier_rate <= 1.0
    if s.krippendorff_alpha is not None:
        assert s.krippendorff_alpha <= 1.0 + 1e-12
    json.dumps(s.to_dict(), allow_nan=False)


def test_language_mixing_is_undefined_for_a_monolingual_corpus() -> None:
    s = compare([0, 0, 1, 1], ["a", "a", "b", "b"], languages=["en"] * 4, bootstrap=0)
    assert s.to_dict()["language_mixing"] is None
    s = compare([0, 0, 1, 1], ["a", "a", "b", "b"], languages=["en", "ms", "en", "en"], bootstrap=0)
    # theme 0 holds both languages (2 segments), theme 1 only English (2 segments)
    assert s.to_dict()["language_mixing"] == pytest.approx(0.5)
