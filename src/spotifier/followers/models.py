"""The regressors of the followers study: the seed's four, and the improved ones.

Each model is a small class with `fit(table)` and `predict(table) -> (raw, log1p)`: the raw-scale
prediction of num_followers and the log1p-scale one (for a log-target model the latter is its own
output, and the raw one is back-transformed with Duan's smearing estimate so that it estimates the
mean rather than the median).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from spotifier.followers.features import FollowersTable

SPLIT_SEED = 42  # the seed's train_test_split(random_state=42)
DENSE_LIMIT = 40_000_000  # matrix cells below which the seed's one-hot design is kept dense
TITLE_TOKENS = 100
# The seed's scikit-learn solved least squares with LAPACK's default cutoff (machine epsilon);
# today's default (1e-6 of the largest singular value) would drop every column but duration_ms.
EPS = float(np.finfo(np.float64).eps)


class FollowersModel(ABC):
    name: ClassVar[str] = ""
    family: ClassVar[str] = "improved"
    description: ClassVar[str] = ""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    @abstractmethod
    def fit(self, table: FollowersTable, tuned: dict[str, Any] | None = None) -> FollowersModel:
        """Fit; `tuned` reuses hyperparameters chosen earlier (skipping the search)."""

    @abstractmethod
    def predict(self, table: FollowersTable) -> tuple[np.ndarray, np.ndarray]: ...


# ---------------------------------------------------------------- the seed's models (raw target)
class _SeedDesign:
    """The seed's design: seven numeric columns, optionally + one-hot most frequent artist."""

    def __init__(self, onehot_artist: bool) -> None:
        self.onehot_artist = onehot_artist
        self.encoder: Any = None

    def fit_transform(self, table: FollowersTable) -> np.ndarray | sp.csr_matrix:
        if self.onehot_artist:
            from sklearn.preprocessing import OneHotEncoder

            self.encoder = OneHotEncoder(handle_unknown="ignore")
            self.encoder.fit(table.top_artist.reshape(-1, 1))
        return self.transform(table)

    def transform(self, table: FollowersTable) -> np.ndarray | sp.csr_matrix:
        if self.encoder is None:
            return table.seed_x
        onehot = self.encoder.transform(table.top_artist.reshape(-1, 1))
        design = sp.hstack([sp.csr_matrix(table.seed_x), onehot], format="csr")
        # Dense like the seed's pandas frame (exact least squares) unless that would be huge;
        # sparse least squares (lsqr) stalls on these badly scaled columns.
        if design.shape[0] * design.shape[1] <= DENSE_LIMIT:
            return design.toarray()
        return design


class _SeedModel(FollowersModel):
    family = "seed"
    onehot_artist: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.design = _SeedDesign(self.onehot_artist)
        self.estimator: Any = self.make_estimator()

    def make_estimator(self) -> Any:
        raise NotImplementedError

    def fit(self, table: FollowersTable, tuned: dict[str, Any] | None = None) -> FollowersModel:
        self.estimator.fit(self.design.fit_transform(table), table.followers)
        return self

    def predict(self, table: FollowersTable) -> tuple[np.ndarray, np.ndarray]:
        raw = np.asarray(self.estimator.predict(self.design.transform(table)), dtype=np.float64)
        return raw, np.log1p(np.clip(raw, 0.0, None))


class SeedLinear(_SeedModel):
    name = "linear"
    description = "the seed: least squares on 7 numeric features, raw target"
    onehot_artist = False

    def make_estimator(self) -> Any:
        from sklearn.linear_model import LinearRegression

        return LinearRegression(tol=EPS)


class SeedLinearOnehot(_SeedModel):
    name = "linear-onehot-artist"
    description = "the seed: least squares + one-hot most frequent artist, raw target"

    def make_estimator(self) -> Any:
        from sklearn.linear_model import LinearRegression

        return LinearRegression(tol=EPS)


class SeedLasso(_SeedModel):
    name = "lasso"
    description = "the seed: Lasso (alpha 0.5) on the one-hot design, raw target"

    def make_estimator(self) -> Any:
        from sklearn.linear_model import Lasso

        self.params = {"alpha": 0.5}
        return Lasso(alpha=0.5, max_iter=5000)


class SeedGBT(_SeedModel):
    name = "gbt"
    description = (
        "the seed: boosted trees (LightGBM; depth 10, lr 0.1, 60 trees) on the one-hot design"
    )

    def make_estimator(self) -> Any:
        import lightgbm as lgb

        # XGBoost's depth-10 trees with min_child_weight 1 and squared loss: up to 1024 leaves,
        # a leaf may hold a single playlist.
        self.params = {"max_depth": 10, "learning_rate": 0.1, "n_estimators": 60}
        return lgb.LGBMRegressor(
            max_depth=10,
            num_leaves=1023,
            learning_rate=0.1,
            n_estimators=60,
            min_child_samples=1,
            min_child_weight=1.0,
            random_state=SPLIT_SEED,
            n_jobs=1,  # the seed's 10,000 playlists: threads cost more than they save
            verbose=-1,
        )


# ---------------------------------------------------------------- improved models
class _RichDesign:
    """Standardized rich numeric features + binary title tokens (min_df 5, at most 100); dense."""

    def __init__(self) -> None:
        self.mean = np.zeros(0)
        self.scale = np.ones(0)
        self.vectorizer: Any = None

    def fit_transform(self, table: FollowersTable) -> np.ndarray:
        from sklearn.feature_extraction.text import CountVectorizer

        self.mean = table.rich_x.mean(axis=0)
        self.scale = np.where(table.rich_x.std(axis=0) > 0, table.rich_x.std(axis=0), 1.0)
        self.vectorizer = CountVectorizer(
            binary=True, min_df=5, max_features=TITLE_TOKENS, token_pattern=r"(?u)\b\w+\b"
        )
        try:
            self.vectorizer.fit(table.titles)
        except ValueError:  # no token reaches min_df (tiny samples)
            self.vectorizer = None
        return self.transform(table)

    def transform(self, table: FollowersTable) -> np.ndarray:
        numeric = (table.rich_x - self.mean) / self.scale
        if self.vectorizer is None:
            return numeric
        tokens = self.vectorizer.transform(table.titles).toarray()
        return np.hstack([numeric, tokens])

    def names(self, features: tuple[str, ...]) -> list[str]:
        tokens = [] if self.vectorizer is None else self.vectorizer.get_feature_names_out()
        return [*features, *(f"title:{t}" for t in tokens)]


def _threads(n: int) -> int:
    """LightGBM threads: one for small tables (OpenMP spin-waits hurt on a busy machine)."""
    from spotifier.progress import cpu_count

    return 1 if n < 50_000 else cpu_count()


def _folds(n: int) -> int:
    return max(2, min(5, n // 50))


class MeanBaseline(FollowersModel):
    name = "mean"
    family = "baseline"
    description = "predicts the training mean (R² 0 by construction)"

    def fit(self, table: FollowersTable, tuned: dict[str, Any] | None = None) -> FollowersModel:
        self.value = float(table.followers.mean())
        self.log_value = float(np.log1p(table.followers).mean())
        return self

    def predict(self, table: FollowersTable) -> tuple[np.ndarray, np.ndarray]:
        n = len(table)
        return np.full(n, self.value), np.full(n, self.log_value)


class _LogTarget(FollowersModel):
    """Fit on log1p(followers); raw predictions via Duan's smearing estimate."""

    smear = 1.0

    def set_smear(self, table: FollowersTable, log_pred: np.ndarray) -> None:
        self.smear = float(np.mean(np.exp(np.log1p(table.followers) - log_pred)))

    def back(self, log_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.clip(np.exp(log_pred) * self.smear - 1.0, 0.0, None), log_pred


class RidgeLog(_LogTarget):
    name = "ridge-log"
    description = "ridge on log1p target, rich features + title tokens, alpha by CV"

    def fit(self, table: FollowersTable, tuned: dict[str, Any] | None = None) -> FollowersModel:
        from sklearn.linear_model import Ridge, RidgeCV

        self.design = _RichDesign()
        x = self.design.fit_transform(table)
        if tuned:
            self.model = Ridge(alpha=tuned["alpha"]).fit(x, np.log1p(table.followers))
            self.params = dict(tuned)
        else:
            self.model = RidgeCV(alphas=np.logspace(-2, 4, 13), cv=_folds(len(table)))
            self.model.fit(x, np.log1p(table.followers))
            self.params = {"alpha": float(self.model.alpha_)}
        self.set_smear(table, self.model.predict(x))
        return self

    def predict(self, table: FollowersTable) -> tuple[np.ndarray, np.ndarray]:
        return self.back(np.asarray(self.model.predict(self.design.transform(table))))


class PoissonGLM(FollowersModel):
    name = "poisson-glm"
    description = "Poisson regression (log link), rich features + title tokens, alpha by CV"

    def fit(self, table: FollowersTable, tuned: dict[str, Any] | None = None) -> FollowersModel:
        from sklearn.linear_model import PoissonRegressor
        from sklearn.model_selection import GridSearchCV

        self.design = _RichDesign()
        x = self.design.fit_transform(table)
        if tuned:
            self.model = PoissonRegressor(
                alpha=tuned["alpha"], solver="newton-cholesky", max_iter=100
            )
            self.model.fit(x, table.followers)
            self.params = dict(tuned)
            return self
        search = GridSearchCV(
            PoissonRegressor(solver="newton-cholesky", max_iter=100),
            {"alpha": [1e-3, 1e-2, 1e-1, 1.0]},
            cv=min(3, _folds(len(table))),
            scoring="neg_mean_poisson_deviance",
        )
        search.fit(x, table.followers)
        self.model = search.best_estimator_
        self.params = {"alpha": float(search.best_params_["alpha"])}
        return self

    def predict(self, table: FollowersTable) -> tuple[np.ndarray, np.ndarray]:
        raw = np.asarray(self.model.predict(self.design.transform(table)), dtype=np.float64)
        return raw, np.log1p(raw)


class _GBM(FollowersModel):
    """LightGBM with leaves, leaf size and the number of trees chosen by cross-validation."""

    objective: ClassVar[str] = "regression"
    grid: ClassVar[list[dict[str, Any]]] = [
        {"num_leaves": nl, "min_child_samples": mc} for nl in (7, 31) for mc in (20, 100)
    ]

    def target(self, table: FollowersTable) -> np.ndarray:
        return np.log1p(table.followers)

    def fit(self, table: FollowersTable, tuned: dict[str, Any] | None = None) -> FollowersModel:
        import lightgbm as lgb

        self.design = _RichDesign()
        x = self.design.fit_transform(table)
        y = self.target(table)
        base = {
            "objective": self.objective,
            "learning_rate": 0.1,
            "lambda_l2": 1.0,
            "feature_fraction": 0.8,
            "verbose": -1,
            "num_threads": _threads(len(table)),
            "seed": SPLIT_SEED,
        }
        if tuned:
            params = {**base, **{k: v for k, v in tuned.items() if k != "trees"}}
            self.booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=tuned["trees"])
            self.params = dict(tuned)
            self.after_fit(table, x)
            return self
        best: tuple[float, dict[str, Any], int] | None = None
        for cand in self.grid:
            params = {**base, **cand}
            params["min_child_samples"] = min(cand["min_child_samples"], max(2, len(table) // 10))
            res = lgb.cv(
                params,
                lgb.Dataset(x, y, free_raw_data=False),
                num_boost_round=400,
                nfold=min(3, _folds(len(table))),
                stratified=False,
                seed=SPLIT_SEED,
                callbacks=[lgb.early_stopping(30, verbose=False)],
            )
            curve: list[float] = next(v for k, v in res.items() if k.endswith("-mean"))  # type: ignore[misc]
            loss, rounds = float(curve[-1]), len(curve)
            if best is None or loss < best[0]:
                best = (loss, params, rounds)
        assert best is not None
        _, params, rounds = best
        self.booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=rounds)
        self.params = {
            "num_leaves": params["num_leaves"],
            "min_child_samples": params["min_child_samples"],
            "trees": rounds,
        }
        self.after_fit(table, x)
        return self

    def after_fit(self, table: FollowersTable, x: np.ndarray) -> None:
        """Hook for the log-target model's smearing factor."""

    def importance(self, features: tuple[str, ...], top: int = 15) -> dict[str, float]:
        gain = self.booster.feature_importance(importance_type="gain")
        names = self.design.names(features)
        total = float(gain.sum()) or 1.0
        order = np.argsort(-gain)[:top]
        return {names[i]: round(float(gain[i]) / total, 4) for i in order if gain[i] > 0}


class GBMLog(_GBM, _LogTarget):
    name = "gbm-log"
    description = "LightGBM on log1p target, rich features + title tokens, tuned by CV"

    def after_fit(self, table: FollowersTable, x: np.ndarray) -> None:
        self.set_smear(table, np.asarray(self.booster.predict(x)))

    def predict(self, table: FollowersTable) -> tuple[np.ndarray, np.ndarray]:
        return self.back(np.asarray(self.booster.predict(self.design.transform(table))))


class GBMPoisson(_GBM):
    name = "gbm-poisson"
    description = "LightGBM with a Poisson objective, rich features + title tokens, tuned by CV"
    objective = "poisson"

    def target(self, table: FollowersTable) -> np.ndarray:
        return table.followers

    def predict(self, table: FollowersTable) -> tuple[np.ndarray, np.ndarray]:
        raw = np.asarray(self.booster.predict(self.design.transform(table)), dtype=np.float64)
        return raw, np.log1p(raw)


SEED_MODELS: tuple[type[FollowersModel], ...] = (SeedLinear, SeedLinearOnehot, SeedLasso, SeedGBT)
IMPROVED_MODELS: tuple[type[FollowersModel], ...] = (
    MeanBaseline,
    RidgeLog,
    PoissonGLM,
    GBMLog,
    GBMPoisson,
)
