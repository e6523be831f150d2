"""Project 2 of first-projects: a text classifier whose features never see the headers.

The newsgroups sample's headers name the label ("Newsgroups: sci.space"). The grader plants
random canary words in headers of kinds the brief's data rarely or never shows (unseen fields,
folded lines, CRLF endings, a body with 'Name: value' lines...) and proves that none reaches the
bag of words or the model's vocabulary, and that predictions do not move when headers are swapped
between classes. The reference naive Bayes runs here; the learner's runs in the sandbox."""

from __future__ import annotations

import numpy as np
import pytest
from _projects_data import (
    bag_of_words,
    header_families,
    nb_cross_val,
    nb_fit,
    nb_predict,
    newsgroups,
    split_message,
    stratified_folds,
    swap_header,
    tokenize,
)

from workbench.grader_plugin import call_learner

ACCURACY_NEEDED = 0.90


@pytest.fixture(scope="module")
def text(learner_module):
    return learner_module("text_classifier")


def _shorten(text: str, limit: int = 160) -> str:
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=1, required=True, competency="Feature engineering")
def test_no_header_token_reaches_the_features(text, record_metric, seed):
    """no header token reaches the features: bag_of_words is the body's token counts, whatever the header looks like"""
    rng = np.random.default_rng(seed + 10)
    messages, _ = newsgroups()
    sample = [messages[int(i)] for i in rng.choice(len(messages), size=6, replace=False)]
    for message in sample:  # the bundled kind first
        got = call_learner("bag_of_words", text.bag_of_words, message)
        expected = bag_of_words(message)
        assert isinstance(got, dict), f"bag_of_words must return a dict token -> count, got {type(got).__name__}"
        header_only = sorted(set(got) - set(expected))
        assert not header_only, (f"bag_of_words counts header words {header_only[:6]} of a bundled message; "
                                 "the header ends at the first empty line and none of it may reach the features")
        assert got == expected, (f"bag_of_words differs from the body's token counts on a bundled message "
                                 f"(missing {sorted(set(expected) - set(got))[:6]}, counts differ for "
                                 f"{sorted(t for t in expected if t in got and got[t] != expected[t])[:6]})")
    leaked_total = 0
    families = 0
    for family, message, canaries, _ in header_families(rng):
        families += 1
        got = call_learner("bag_of_words", text.bag_of_words, message)
        leaked = [c for c in canaries if c in got]
        leaked_total += len(leaked)
        assert not leaked, (f"header words {leaked} reached bag_of_words for {family}; message starts "
                            f"{_shorten(message)!r}. The header is everything up to the first empty line "
                            "(\\n or \\r\\n endings, indented continuation lines included)")
        expected = bag_of_words(message)
        assert got == expected, (
            f"bag_of_words for {family} differs from the body's token counts: missing "
            f"{sorted(set(expected) - set(got))[:6]}, extra {sorted(set(got) - set(expected))[:6]}; message starts "
            f"{_shorten(message)!r}. Keep every body line (even 'Name: value' ones) and only the body")
        body = call_learner("strip_headers", text.strip_headers, message)
        assert isinstance(body, str) and tokenize(body) == tokenize(split_message(message)[1]), (
            f"strip_headers for {family} does not return the body (the text after the first empty line); "
            f"got {_shorten(str(body))!r}")
    record_metric("header_families", families)
    record_metric("leaked_header_words", leaked_total)


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=2, required=True, competency="Supervised/unsupervised learning")
def test_naive_bayes_model_is_header_blind(text, record_metric, seed):
    """naive Bayes equals the reference (vocabulary, priors, log probabilities); predictions ignore swapped headers"""
    rng = np.random.default_rng(seed + 11)
    messages, labels = newsgroups()
    rows = rng.choice(len(messages), size=120, replace=False)
    train = [messages[int(i)] for i in rows]
    train_labels = [labels[int(i)] for i in rows]
    # 16 training messages get headers with canaries, of the kinds the sample barely or never shows
    planted = list(header_families(rng, count_per_family=2, among=rows))
    canaries = {c for _, _, words, _ in planted for c in words}
    position = {int(index): k for k, index in enumerate(rows)}
    for _, message, _, source in planted:
        train[position[source]] = message
    model = call_learner("fit", text.fit, train, train_labels)
    for attr in ("vocabulary", "classes", "class_log_prior", "feature_log_prob"):
        assert hasattr(model, attr), f"fit must return a TextModel with {attr!r}"
    vocabulary = [str(t) for t in model.vocabulary]
    leaked = sorted(canaries & set(vocabulary))
    record_metric("leaked_header_words", len(leaked))
    assert not leaked, (f"the model's vocabulary holds {len(leaked)} words that only appear in headers "
                        f"(e.g. {leaked[:4]}); build features from the bodies only")
    ref_vocabulary, ref_classes, ref_prior, ref_log_prob = nb_fit(train, train_labels)
    assert vocabulary == ref_vocabulary, (
        f"the vocabulary has {len(vocabulary)} words, the reference {len(ref_vocabulary)} (the sorted distinct tokens "
        f"of the training bodies); missing {sorted(set(ref_vocabulary) - set(vocabulary))[:5]}, extra "
        f"{sorted(set(vocabulary) - set(ref_vocabulary))[:5]}")
    assert [int(c) for c in model.classes] == ref_classes, f"model.classes is {list(model.classes)}, needs {ref_classes}"
    prior = np.asarray(model.class_log_prior, dtype=float)
    assert prior.shape == ref_prior.shape and np.allclose(prior, ref_prior, atol=1e-9), (
        f"class_log_prior is {np.round(prior, 5).tolist()}, needs {np.round(ref_prior, 5).tolist()} "
        "(log of each class's share of the training messages)")
    log_prob = np.asarray(model.feature_log_prob, dtype=float)
    assert log_prob.shape == ref_log_prob.shape, f"feature_log_prob has shape {log_prob.shape}, needs {ref_log_prob.shape}"
    error = float(np.max(np.abs(log_prob - ref_log_prob)))
    record_metric("max_log_prob_error", error)
    assert error <= 1e-9, (f"feature_log_prob differs from log((count + 1) / (class total + V)) by up to {error:.2e}, "
                           "needs <= 1e-9 (add-one smoothing over the whole vocabulary V)")
    # predictions on the held-out rest, then on the same bodies under a header of the other class
    held_out = [i for i in range(len(messages)) if i not in set(rows.tolist())]
    test = [messages[i] for i in held_out]
    by_class = {c: [m for m, label in zip(messages, labels, strict=True) if label == c] for c in (0, 1)}
    swapped = [swap_header(messages[i], by_class[1 - labels[i]][int(rng.integers(100))]) for i in held_out]
    predicted = [int(p) for p in call_learner("predict", text.predict, model, test)]
    expected = nb_predict((ref_vocabulary, ref_classes, ref_prior, ref_log_prob), test)
    assert len(predicted) == len(test), f"predict returned {len(predicted)} labels for {len(test)} messages"
    wrong = sum(p != e for p, e in zip(predicted, expected, strict=True))
    assert wrong == 0, (
        f"predict differs from the reference on {wrong} of {len(test)} held-out messages: the class with the "
        "largest log prior + sum(count * log P(token | class)), tokens outside the vocabulary ignored")
    predicted_swapped = [int(p) for p in call_learner("predict", text.predict, model, swapped)]
    assert len(predicted_swapped) == len(swapped), f"predict returned {len(predicted_swapped)} labels for {len(swapped)} messages"
    moved = sum(a != b for a, b in zip(predicted, predicted_swapped, strict=True))
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray([labels[i] for i in held_out])))
    record_metric("held_out_accuracy", round(accuracy, 4))
    record_metric("predictions_moved_by_swapped_headers", moved)
    assert moved == 0, (f"{moved} of {len(test)} predictions changed when each message got the header of a message "
                        "from the other class; the header must not reach the features")


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=3, required=True, competency="Model evaluation")
def test_k_fold_accuracy(text, record_metric, seed):
    """k-fold accuracy: each fold predicted by a model fitted on the other folds only, mean >= 0.90"""
    rng = np.random.default_rng(seed + 12)
    messages, labels = newsgroups()
    k = int(rng.choice([4, 5, 6]))
    folds = stratified_folds(labels, k, rng)
    got = call_learner("cross_val_accuracy", text.cross_val_accuracy, list(messages), list(labels), folds)
    got = [float(a) for a in got]
    assert len(got) == k, f"cross_val_accuracy returned {len(got)} accuracies for {k} folds (one per fold id, ascending)"
    expected = nb_cross_val(messages, labels, folds)
    error = max(abs(a - b) for a, b in zip(got, expected, strict=True))
    if error > 1e-9:
        inflated = np.mean(got) > np.mean(expected)
        pytest.fail(f"cross_val_accuracy per fold is {[round(a, 3) for a in got]}, the reference "
                    f"{[round(a, 3) for a in expected]}. "
                    + ("Yours is higher: the test fold leaked into fitting (fit on the other folds only, "
                       "build the vocabulary from them too)." if inflated else
                       "Fit on the messages whose fold id differs, score the messages of the fold."), pytrace=False)
    mean = float(np.mean(got))
    record_metric("k", k)
    record_metric("mean_accuracy", round(mean, 4))
    assert mean >= ACCURACY_NEEDED, (f"mean {k}-fold accuracy is {mean:.3f}, needs >= {ACCURACY_NEEDED} "
                                     f"(per fold: {', '.join(f'{a:.2f}' for a in got)})")
    # the learner's own fit / predict, folded by the grader
    own = []
    for fold in range(k):
        train = [i for i, f in enumerate(folds) if f != fold]
        test = [i for i, f in enumerate(folds) if f == fold]
        model = call_learner("fit", text.fit, [messages[i] for i in train], [labels[i] for i in train])
        predicted = call_learner("predict", text.predict, model, [messages[i] for i in test])
        own.append(float(np.mean(np.asarray(predicted, dtype=int) == np.asarray([labels[i] for i in test]))))
    assert max(abs(a - b) for a, b in zip(own, expected, strict=True)) <= 1e-9, (
        f"fit/predict folded by the grader score {[round(a, 3) for a in own]} per fold, the reference "
        f"{[round(a, 3) for a in expected]}")
