"""Disentanglement metrics: how well a code separates the ground-truth factors of `shapes`.

Each metric follows its published recipe as disentanglement_lib (Locatello et al. 2019) implements it, on
the mean representation mu(x) of images drawn with known factors:

    mig          mutual information gap (Chen et al. 2018): 20-bin histograms of each code dimension; per
                 factor, (I(z_best; f) − I(z_second; f)) / H(f), averaged over factors
    factor_vae   FactorVAE score (Kim & Mnih 2018): fix one factor in a batch of 64, vote for the dimension
                 of least variance (normalised by its global std; collapsed dimensions, std < 0.05, pruned);
                 the accuracy of a majority-vote classifier from dimension to factor, on held-out votes
    beta_vae     β-VAE score (Higgins et al. 2017): mean |z1 − z2| over 64 pairs sharing one factor →
                 that factor, by logistic regression; held-out accuracy
    sap          SAP (Kumar et al. 2018): per (dimension, factor), the held-out accuracy of a linear SVM
                 (C = 0.01, balanced classes) predicting the factor from that one dimension; per factor the
                 gap between the best two dimensions, averaged
    dci          DCI (Eastwood & Williams 2018): gradient-boosted trees predict each factor from the code;
                 their feature importances R (dimensions × factors) give disentanglement (1 − entropy of
                 each dimension's row, base K, weighted by the row's share), completeness (1 − entropy of each
                 factor's column, base D, weighted likewise) and informativeness (held-out accuracy)

Sizes are the published ones by default (10,000 training and 5,000 held-out points, batches of 64) and
are arguments, so tests run them small. The estimators scikit-learn provides (mutual information,
logistic regression, linear SVM, gradient boosting) are taken from it.

A representation is any function from factor-index rows (n, 5) to codes (n, D), so the metrics are
tested on synthetic codes without images; `genlab.runs.model_representation` makes one from a trained encoder.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from genlab import shapes
from genlab.config import METRICS

Represent = Callable[[np.ndarray], np.ndarray]


@dataclass
class FactorSpace:
    """The ground-truth factors a data set spans: a product of index sets, one per factor."""

    values: list[np.ndarray]

    @classmethod
    def of(cls, factors: np.ndarray) -> FactorSpace:
        """From a data set's factor rows (n, 5) (a full grid, as `shapes` subsets are)."""
        return cls([np.unique(column) for column in np.asarray(factors).T])

    @property
    def varying(self) -> list[int]:
        """The factors that take more than one value: the only ones a metric can score."""
        return [k for k, v in enumerate(self.values) if len(v) > 1]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n factor rows, each factor uniform over its values, (n, 5)."""
        return np.stack([rng.choice(v, n) for v in self.values], axis=1)


def _checked_codes(codes: np.ndarray) -> np.ndarray:
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"a code needs at least 2 dimensions to score disentanglement, got shape {codes.shape}")
    return codes


# --- MIG ---

def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Each code dimension cut into `bins` equal-width bins over its range (n, D) → bin indices (n, D)."""
    return np.stack([np.digitize(c, np.histogram(c, bins)[1][:-1]) for c in codes.T], axis=1)


def mutual_information(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Discrete mutual information in nats between every column of a (n, P) and of b (n, Q): (P, Q)."""
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(x, y) for y in b.T] for x in a.T])


def mig(represent: Represent, space: FactorSpace, rng: np.random.Generator, points: int = 10_000,
        bins: int = 20) -> dict[str, float]:
    """Mutual information gap: the mean over factors of the normalised gap between the two code dimensions
    most informative about it. Also per factor (`mig_<factor>`)."""
    factors = space.sample(points, rng)
    codes = _checked_codes(represent(factors))
    varying = space.varying
    mi = mutual_information(discretize(codes, bins), factors[:, varying])  # (D, K)
    entropy = np.array([mutual_information(factors[:, [k]], factors[:, [k]])[0, 0] for k in varying])
    top = np.sort(mi, axis=0)[::-1]
    gaps = (top[0] - top[1]) / entropy
    return {"mig": float(gaps.mean()), **{f"mig_{shapes.FACTORS[k]}": float(g) for k, g in zip(varying, gaps)}}


def most_informative_dimension(represent: Represent, space: FactorSpace, factor: int, rng: np.random.Generator,
                               points: int = 10_000) -> int:
    """The code dimension with the most mutual information about one factor (MIG's top dimension)."""
    rows = space.sample(points, rng)
    return int(mutual_information(discretize(represent(rows)), rows[:, [factor]])[:, 0].argmax())


# --- FactorVAE score ---

def _fixed_factor_batches(space: FactorSpace, k: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
    """For each factor index in k (m,), a batch of factor rows sharing one random value of that factor:
    (m, batch, 5)."""
    rows = space.sample(len(k) * batch, rng).reshape(len(k), batch, -1)
    for factor in np.unique(k):
        sel = np.flatnonzero(k == factor)
        rows[sel, :, factor] = rng.choice(space.values[factor], len(sel))[:, None]
    return rows


def _codes_of_batches(represent: Represent, rows: np.ndarray) -> np.ndarray:
    m, b, _ = rows.shape
    return represent(rows.reshape(m * b, -1)).reshape(m, b, -1)


def factor_vae_score(represent: Represent, space: FactorSpace, rng: np.random.Generator, train: int = 10_000,
                     test: int = 5_000, batch: int = 64, variance_points: int = 10_000,
                     prune: float = 0.05, chunk: int = 100) -> dict[str, float]:
    """FactorVAE score: held-out accuracy of the majority-vote classifier from 'the dimension of least
    normalised variance in a batch with one factor fixed' to that factor."""
    global_var = _checked_codes(represent(space.sample(variance_points, rng))).var(0, ddof=1)
    active = np.sqrt(global_var) >= prune
    if not active.any():  # every dimension collapsed: nothing to vote with
        return {"factor_vae": 0.0, "factor_vae_train": 0.0, "active_dims": 0}
    varying = np.array(space.varying)

    def votes(n: int) -> np.ndarray:
        counts = np.zeros((len(global_var), len(shapes.FACTORS)), dtype=np.int64)
        for start in range(0, n, chunk):
            k = rng.choice(varying, min(chunk, n - start))
            codes = _codes_of_batches(represent, _fixed_factor_batches(space, k, batch, rng))
            local = codes.var(1, ddof=1)[:, active] / global_var[active]  # (m, active)
            dims = np.flatnonzero(active)[local.argmin(1)]
            np.add.at(counts, (dims, k), 1)
        return counts

    train_votes, test_votes = votes(train), votes(test)
    classifier = train_votes.argmax(1)  # dimension → the factor it most often voted for
    dims = np.arange(len(classifier))
    return {"factor_vae": float(test_votes[dims, classifier].sum() / test_votes.sum()),
            "factor_vae_train": float(train_votes[dims, classifier].sum() / train_votes.sum()),
            "active_dims": int(active.sum())}


# --- β-VAE score ---

def beta_vae_score(represent: Represent, space: FactorSpace, rng: np.random.Generator, train: int = 10_000,
                   test: int = 5_000, batch: int = 64, chunk: int = 100) -> dict[str, float]:
    """β-VAE score: held-out accuracy of a logistic regression from mean |z1 − z2| over `batch` pairs that
    share one factor's value, to that factor."""
    from sklearn.linear_model import LogisticRegression

    varying = np.array(space.varying)

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        features, labels = [], []
        for start in range(0, n, chunk):
            k = rng.choice(varying, min(chunk, n - start))
            first = _fixed_factor_batches(space, k, batch, rng)
            second = space.sample(first.shape[0] * batch, rng).reshape(first.shape)
            second[np.arange(len(k)), :, k] = first[np.arange(len(k)), :, k]
            diff = np.abs(_codes_of_batches(represent, first) - _codes_of_batches(represent, second))
            features.append(diff.mean(1))
            labels.append(k)
        return np.concatenate(features), np.concatenate(labels)

    x_train, y_train = points(train)
    x_test, y_test = points(test)
    _checked_codes(x_train)
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    return {"beta_vae": float(model.score(x_test, y_test)), "beta_vae_train": float(model.score(x_train, y_train))}


# --- SAP ---

def sap(represent: Represent, space: FactorSpace, rng: np.random.Generator, train: int = 10_000,
        test: int = 5_000) -> dict[str, float]:
    """SAP score: per factor, the gap in held-out accuracy between the two code dimensions that predict it
    best on their own (linear SVM, C = 0.01, balanced classes), averaged over factors."""
    from sklearn.svm import LinearSVC

    varying = space.varying
    f_train, f_test = space.sample(train, rng), space.sample(test, rng)
    z_train, z_test = _checked_codes(represent(f_train)), represent(f_test)
    scores = np.zeros((z_train.shape[1], len(varying)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LinearSVC's ConvergenceWarning on useless dimensions
        for d in range(z_train.shape[1]):
            for j, k in enumerate(varying):
                svm = LinearSVC(C=0.01, class_weight="balanced").fit(z_train[:, [d]], f_train[:, k])
                scores[d, j] = np.mean(svm.predict(z_test[:, [d]]) == f_test[:, k])
    top = np.sort(scores, axis=0)[::-1]
    return {"sap": float(np.mean(top[0] - top[1]))}


# --- DCI ---

def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy in base `base` of each row of p (rows sum to 1)."""
    logs = np.log(np.where(p > 0, p, 1.0)) / np.log(base)
    return -(p * logs).sum(-1)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) from a (dimensions × factors) importance matrix."""
    importance = np.abs(importance)
    total = importance.sum()
    if total == 0:
        return 0.0, 0.0
    d, k = importance.shape
    rows = importance / np.maximum(importance.sum(1, keepdims=True), 1e-12)
    cols = (importance / np.maximum(importance.sum(0, keepdims=True), 1e-12)).T
    disentanglement = (1 - _entropy(rows, k)) if k > 1 else np.ones(d)
    completeness = (1 - _entropy(cols, d)) if d > 1 else np.ones(k)
    return (float((disentanglement * importance.sum(1) / total).sum()),
            float((completeness * importance.sum(0) / total).sum()))


def dci(represent: Represent, space: FactorSpace, rng: np.random.Generator, train: int = 10_000,
        test: int = 5_000, seed: int = 0) -> dict[str, float]:
    """DCI disentanglement, completeness and informativeness (held-out accuracy of the trees, averaged)."""
    from sklearn.ensemble import GradientBoostingClassifier

    varying = space.varying
    f_train, f_test = space.sample(train, rng), space.sample(test, rng)
    z_train, z_test = _checked_codes(represent(f_train)), represent(f_test)

    def fit(k: int) -> tuple[np.ndarray, float]:
        trees = GradientBoostingClassifier(random_state=seed).fit(z_train, f_train[:, k])
        return trees.feature_importances_, trees.score(z_test, f_test[:, k])

    # one forest per factor, independent of the others: fitted side by side (scikit-learn's tree builder
    # releases the GIL), each the same as fitted alone. A K-valued factor grows K trees a stage, so the
    # factors with most values go first, which keeps the threads evenly loaded.
    order = sorted(varying, key=lambda k: -len(space.values[k]))
    with ThreadPoolExecutor(max(1, min(torch.get_num_threads(), len(varying)))) as pool:
        fitted = dict(zip(order, pool.map(fit, order)))
    importance = np.stack([fitted[k][0] for k in varying], 1)
    accuracy = [fitted[k][1] for k in varying]
    disentanglement, completeness = dci_from_importance(importance)
    return {"dci_disentanglement": disentanglement, "dci_completeness": completeness,
            "dci_informativeness": float(np.mean(accuracy))}


def evaluate(represent: Represent, space: FactorSpace, seed: int = 0, which: tuple[str, ...] = METRICS,
             train: int = 10_000, test: int = 5_000, batch: int = 64) -> dict[str, float]:
    """The chosen metrics, each from its own seeded stream (so one metric's score does not depend on which
    others ran)."""
    if len(space.varying) == 0:
        raise ValueError("no factor varies in this data: nothing to disentangle")
    result: dict[str, float] = {}
    for i, name in enumerate(METRICS):
        if name not in which:
            continue
        rng = np.random.default_rng([seed, i])
        if name == "mig":
            result.update(mig(represent, space, rng, points=train))
        elif name == "factor_vae":
            result.update(factor_vae_score(represent, space, rng, train, test, batch, variance_points=train))
        elif name == "beta_vae":
            result.update(beta_vae_score(represent, space, rng, train, test, batch))
        elif name == "sap":
            result.update(sap(represent, space, rng, train, test))
        else:
            result.update(dci(represent, space, rng, train, test, seed))
    return result
