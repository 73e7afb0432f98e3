"""Fit a guard head: grouped cross-validation, calibration, thresholds, final model.

1. Every row is read through `textviews.views` (the canonical view, plus its ROT13 or
   reversed reading where one applies); each view is a training example with the row's
   label, and a row's score is the maximum over its views, as at scoring time.
2. K grouped folds (`Row.fold`): each fold's rows are scored by models trained on the
   others. These out-of-fold scores are the *validation* figures.
3. Platt scaling is fitted on the out-of-fold decision values, for the screen and the full
   model separately.
4. `threshold` is the lowest calibrated probability whose validation false-positive rate on
   the category's own negatives stays within the target (the highest recall that does).
   `screen_threshold` is the highest screen probability that costs at most
   `max_screen_loss` of that recall.
5. The shipped models are refitted on every row with the same settings.

Seeded and deterministic: the same rows give the same weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from warden.safety.classifier.features import FeatureSpec, char_ngrams
from warden.safety.classifier.head import Head, Platt
from warden.safety.classifier.windows import pieces, windows
from warden.safety.textviews import views
from warden.safety.training.metrics import binary_report
from warden.safety.training.rows import FOLDS, Row

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True, slots=True)
class FitSettings:
    target_fpr: float
    c_screen: float = 8.0
    c_full: float = 8.0
    embed_weight: float = 1.0        # scale of the embedding block against the n-grams
    borrowed_weight: float = 0.5     # sample weight of borrowed ordinary negatives
    max_screen_loss: float = 0.01    # validation recall the screen may cost
    prior_weight: float = 4.0        # scale of the cosine-to-description column, if any
    seed: int = 0
    # The detector scores windows of this many characters; a negative row longer than one
    # window also trains (and is validated) window by window, as it will be read. None:
    # whole rows only (operator categories, whose examples are short).
    window_chars: int | None = None
    # Target FPR for documents and tool output, with their own threshold; None: one
    # threshold for every source.
    indirect_target_fpr: float | None = None


@dataclass
class Prepared:
    """Rows expanded to views, with their features computed once."""

    rows: list[Row]
    owner: np.ndarray          # view index -> row index
    chars: sparse.csr_matrix
    vectors: np.ndarray
    prior: np.ndarray | None = None   # unit direction (an operator category's description)
    trained: np.ndarray | None = None  # per view: a training example (else scored only)
    screen_vectors: np.ndarray | None = None  # the screen encoder's, where the spec has one
    sentences: bool = False            # windows' sentences are scored on their own

    def learned(self, idx: np.ndarray) -> np.ndarray:
        """The views of `idx` that models are trained on."""
        return idx if self.trained is None else idx[self.trained[idx]]


def prepare(rows: Sequence[Row], spec: FeatureSpec, embed: Embed,
            prior: np.ndarray | None = None, window_chars: int | None = None, *,
            sentences: bool = False) -> Prepared:
    """Each row's views, as training examples and as the detector will score them.

    Trained on: the row itself and, for a negative longer than `window_chars`, each of
    its windows. Scored only (validation, never training), with `sentences`: every other
    piece the detector then reads (`windows.pieces`: windows and their sentences). A
    piece of a labelled row is not labelled itself: a sentence of a security article
    quoting "ignore all previous instructions" is an attack on its own, and which
    sentence of a positive holds the intent is unknown. So pieces raise a row's
    validation score as they raise its score at run time, and the threshold is chosen
    for that, but no model learns from them."""
    texts: list[str] = []
    owner: list[int] = []
    trained: list[bool] = []
    for i, row in enumerate(rows):
        learn = [row.text]
        if window_chars is not None and row.label == 0 and len(row.text) > window_chars:
            cut = windows(row.text, window_chars)
            if len(cut) > 1:
                learn += [row.text[w.start:w.end] for w in cut]
        score = [] if window_chars is None or not sentences else list(dict.fromkeys(
            p for _, p in pieces(row.text, window_chars) if p not in learn))
        for part, learned in [(p, True) for p in learn] + [(p, False) for p in score]:
            for view in views(part):
                texts.append(view)
                owner.append(i)
                trained.append(learned)
    screen_vectors = None
    if spec.screen_embedding is not None:
        from warden.safety.classifier.features import embeddings

        screen_vectors = embeddings(texts, spec=spec.screen_spec())
    return Prepared(list(rows), np.asarray(owner), char_ngrams(spec, texts),
                    np.asarray(embed(texts), dtype=np.float32), prior,
                    trained=np.asarray(trained, dtype=bool),
                    sentences=sentences and window_chars is not None,
                    screen_vectors=screen_vectors)


def _logistic(c: float, seed: int) -> object:
    from sklearn.linear_model import LogisticRegression

    # The dual liblinear solver: far more features (hashed n-grams) than rows, and fast on
    # the few dozen rows of an operator category trained at start-up.
    return LogisticRegression(C=c, max_iter=2000, random_state=seed, solver="liblinear",
                              dual=True)


def _design(prep: Prepared, idx: np.ndarray, settings: FitSettings, full: bool
            ) -> sparse.csr_matrix:
    """The screen reads n-grams; the full model n-grams, the scaled embedding and, for an
    operator category, the cosine to its description (a prior direction that few examples
    can lean on)."""
    chars = prep.chars[idx]
    if not full:
        if prep.screen_vectors is None:
            return chars
        return sparse.hstack([chars, sparse.csr_matrix(prep.screen_vectors[idx]
                                                       * settings.embed_weight)]).tocsr()
    blocks = [chars, sparse.csr_matrix(prep.vectors[idx] * settings.embed_weight)]
    if prep.prior is not None:
        blocks.append(sparse.csr_matrix((prep.vectors[idx] @ prep.prior).reshape(-1, 1)
                                        * settings.prior_weight))
    return sparse.hstack(blocks).tocsr()


def _fit(prep: Prepared, views_idx: np.ndarray, settings: FitSettings, full: bool
         ) -> tuple[np.ndarray, float]:
    """(weights over the design's columns, bias) of one logistic regression."""
    rows = prep.owner[views_idx]
    labels = np.array([prep.rows[r].label for r in rows])
    weights = np.array([1.0 if prep.rows[r].own else settings.borrowed_weight for r in rows])
    model = _logistic(settings.c_full if full else settings.c_screen, settings.seed)
    model.fit(_design(prep, views_idx, settings, full), labels,  # type: ignore[attr-defined]
              sample_weight=weights)
    return (np.asarray(model.coef_[0], dtype=np.float64),  # type: ignore[attr-defined]
            float(model.intercept_[0]))  # type: ignore[attr-defined]


def _row_max(prep: Prepared, views_idx: np.ndarray, z: np.ndarray) -> dict[int, float]:
    best: dict[int, float] = {}
    for v, score in zip(views_idx, z, strict=True):
        r = int(prep.owner[v])
        best[r] = max(best.get(r, -np.inf), float(score))
    return best


def out_of_fold(prep: Prepared, settings: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (screen decision value, full decision value), each from the models that
    did not see the row's fold."""
    folds = np.array([prep.rows[r].fold for r in prep.owner])
    screen = np.zeros(len(prep.rows))
    full = np.zeros(len(prep.rows))
    for k in range(FOLDS):
        train, test = prep.learned(np.where(folds != k)[0]), np.where(folds == k)[0]
        for is_full, out in ((False, screen), (True, full)):
            w, b = _fit(prep, train, settings, is_full)
            z = _design(prep, test, settings, is_full) @ w + b
            for r, score in _row_max(prep, test, np.asarray(z).ravel()).items():
                out[r] = score
    return screen, full


def platt(z: np.ndarray, labels: np.ndarray) -> Platt:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), labels)
    return Platt(float(model.coef_[0][0]), float(model.intercept_[0]))


def choose_threshold(p: np.ndarray, labels: np.ndarray, target_fpr: float) -> float:
    """The lowest threshold (a midpoint between observed scores) whose FPR <= target."""
    negatives = np.sort(p[labels == 0])[::-1]
    allowed = int(np.floor(target_fpr * len(negatives) + 1e-9))
    if allowed >= len(negatives):
        return 0.0
    cut = negatives[allowed]          # the highest negative that must stay below
    above = p[p > cut]
    return float((cut + above.min()) / 2) if above.size else float(min(1.0, cut + 1e-6))


def choose_screen(screen_p: np.ndarray, full_hit: np.ndarray, labels: np.ndarray,
                  max_loss: float) -> float:
    """The highest screen threshold losing at most `max_loss` of the positives that the
    full model catches on validation."""
    caught = np.sort(screen_p[(labels == 1) & full_hit])
    if not caught.size:
        return 0.0
    lost = int(np.floor(max_loss * np.sum(labels == 1) + 1e-9))
    return float(caught[min(lost, caught.size - 1)] - 1e-9) if lost else \
        float(caught[0] - 1e-9)


def choose_pair(p_screen: np.ndarray, p_full: np.ndarray, labels: np.ndarray,
                ruled: np.ndarray, target_fpr: float, *, steps: int = 40
                ) -> tuple[float, float, float]:
    """(recall, screen threshold, full threshold) with the highest validation recall for a
    window flagged when both models agree (or a pattern fires), at most `target_fpr` of
    negatives flagged. Screen thresholds are tried up to the one that keeps 70% of the
    positives; among equal recalls the highest wins (fewer windows reach the full model)."""
    candidates = np.unique(np.quantile(p_screen[labels == 1], np.linspace(0, 0.3, steps)))
    best: tuple[float, float, float] | None = None
    for screen_threshold in candidates:
        combined = np.where(ruled, 1.0, np.where(p_screen >= screen_threshold, p_full, 0.0))
        threshold = choose_threshold(combined, labels, target_fpr)
        recall = float(np.mean(combined[labels == 1] >= threshold))
        if best is None or recall >= best[0] - 1e-9:
            best = (recall, float(screen_threshold) - 1e-9, threshold)
    assert best is not None
    return best


def fit_head(name: str, rows: Sequence[Row], spec: FeatureSpec, settings: FitSettings,
             embed: Embed, *, prior: np.ndarray | None = None,
             rules: np.ndarray | None = None) -> Head:
    """The validated, calibrated, thresholded head for `rows` (see the module docstring).

    `rules` (per row, optional) are the flags of exact patterns that run beside the model
    (a finding from either counts): the threshold is then chosen for the combination, so
    the patterns spend part of the false-positive budget instead of adding to it.

    A windowed category is fitted twice, without and with scoring each sentence of a window
    on its own (`windows.pieces`); the card keeps the variant with the higher validation
    recall at the same false-positive target (`sentences`), and both recalls."""
    variants = [_fit_prepared(name, prepare(rows, spec, embed, prior, settings.window_chars,
                                            sentences=sentences), settings,
                              spec=spec, prior=prior, rules=rules)
                for sentences in ((False, True) if settings.window_chars else (False,))]
    chosen = max(variants, key=lambda h: h.card["direct_recall"])  # first wins a tie
    recalls = {str(h.card["sentences"]).lower(): h.card["direct_recall"] for h in variants}
    return dataclasses.replace(chosen, card={**chosen.card, "sentence_variants": recalls})


def _fit_prepared(name: str, prep: Prepared, settings: FitSettings, *, spec: FeatureSpec,
                  prior: np.ndarray | None, rules: np.ndarray | None) -> Head:
    labels = np.array([r.label for r in prep.rows])
    own = np.array([r.own for r in prep.rows])
    z_screen, z_full = out_of_fold(prep, settings)
    screen_platt, full_platt = platt(z_screen, labels), platt(z_full, labels)
    p_screen, p_full = screen_platt(z_screen), full_platt(z_full)
    # Users' own turns and documents/tool output (indirect injection) are read with
    # different thresholds, each chosen on its own validation rows for the target FPR:
    # documents full of imperatives for people ("override the default port") need a higher
    # bar than chat turns, and one shared threshold spent the whole false-positive budget on
    # documents while chat turns stayed at a fraction of it.
    indirect = own & np.array([r.source in ("document", "tool") for r in prep.rows])
    direct = own & ~indirect
    if settings.indirect_target_fpr is None or not 0 < labels[direct].sum() < direct.sum():
        direct = own  # one budget for every source
    options = [np.zeros(len(labels), dtype=bool)]
    if rules is not None:
        options.append(np.asarray(rules, dtype=bool))
    best: tuple[float, float, float, np.ndarray] | None = None
    agree = prep.screen_vectors is not None  # two full-strength models that must agree
    for ruled in options:  # patterns are kept only if they raise validation recall
        if agree:
            _, screen_threshold, threshold = choose_pair(
                p_screen[direct], p_full[direct], labels[direct], ruled[direct],
                settings.target_fpr)
        else:
            threshold = choose_threshold(np.where(ruled, 1.0, p_full)[direct],
                                         labels[direct], settings.target_fpr)
            screen_threshold = choose_screen(p_screen[own], p_full[own] >= threshold,
                                             labels[own], settings.max_screen_loss)
        hit = ((p_screen >= screen_threshold) & (p_full >= threshold)) | ruled
        recall = float(hit[direct & (labels == 1)].mean())
        if best is None or recall > best[0] + 1e-9:
            best = (recall, threshold, screen_threshold, ruled)
    assert best is not None
    _, threshold, screen_threshold, ruled = best
    indirect_threshold = threshold
    if settings.indirect_target_fpr is not None and direct is not own:
        indirect_threshold = choose_threshold(
            np.where(p_screen >= screen_threshold, p_full, 0.0)[indirect], labels[indirect],
            settings.indirect_target_fpr)
    everything = prep.learned(np.arange(len(prep.owner)))
    s_w, s_b = _fit(prep, everything, settings, full=False)
    f_w, f_b = _fit(prep, everything, settings, full=True)
    n, d = spec.n_features, spec.embedding_dim
    screen_emb = None if prep.screen_vectors is None else \
        (s_w[n:] * settings.embed_weight).astype(np.float32)
    # Every full-model column past the n-grams is linear in the embedding: fold them into
    # one weight vector over it, so scoring is one dot product.
    full_emb = f_w[n:n + d] * settings.embed_weight
    if prior is not None:
        full_emb = full_emb + f_w[n + d] * settings.prior_weight * prior
    by_source = np.where(indirect, indirect_threshold, threshold)
    model_hit = (p_screen >= screen_threshold) & (p_full >= by_source)
    validation = model_hit | ruled
    card = {"settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
            "rows": {"own": int(own.sum()), "borrowed": int((~own).sum()),
                     "positives": int(labels.sum()), "views": len(prep.owner)},
            "validation": binary_report(prep.rows, validation, p_full),
            "validation_model_only": binary_report(prep.rows, model_hit, p_full),
            "rules": {"offered": rules is not None, "kept": ruled is not options[0]},
            "indirect_threshold": indirect_threshold, "direct_recall": round(best[0], 4),
            "sentences": prep.sentences}
    return Head(name=name, spec=spec, screen_char=s_w[:n].astype(np.float32), screen_bias=s_b,
                screen_platt=screen_platt, full_char=f_w[:n].astype(np.float32),
                full_emb=full_emb.astype(np.float32), full_bias=f_b,
                full_platt=full_platt, threshold=threshold, screen_threshold=screen_threshold,
                card=card, screen_emb=screen_emb)
