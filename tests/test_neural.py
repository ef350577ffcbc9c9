"""seed-ncf and ncf: training pieces, the seed's reported accuracy, fold-in, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from spotifier.data import Interactions, Query, TrainingData
from spotifier.models import create, registry
from spotifier.models.neural_train import Adam, fit_playlist_vectors, sample_negatives, torch_module


def skewed_world(n_playlists: int = 300, n_tracks: int = 120, seed: int = 3) -> TrainingData:
    """Playlists drawn from two taste clusters with a steep popularity skew inside each."""
    rng = np.random.default_rng(seed)
    half = n_tracks // 2
    weights = 1.0 / np.arange(1, half + 1) ** 1.2
    weights /= weights.sum()
    playlists = []
    for i in range(n_playlists):
        offset = 0 if i % 2 == 0 else half
        size = int(rng.integers(8, 20))
        playlists.append((offset + rng.choice(half, size=size, replace=False, p=weights)).tolist())
    inter = Interactions.from_lists(playlists, n_tracks=n_tracks)
    return TrainingData(inter, np.arange(n_tracks, dtype=np.int32) // 4, np.arange(n_tracks) // 2)


def test_negatives_are_never_positives() -> None:
    rng = np.random.default_rng(0)
    dense = rng.random((40, 30)) < 0.5
    matrix = sp.csr_matrix(dense.astype(np.float32))
    rows = np.repeat(np.arange(40), 5)
    neg = sample_negatives(matrix, rows, 3, rng)
    assert neg.shape == (200, 3)
    assert not dense[rows[:, None], neg].any()


def test_adam_first_step_moves_by_lr_and_lazy_rows_stay() -> None:
    torch = torch_module()
    dense = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    table = torch.zeros(5, 2, requires_grad=True)
    opt = Adam([dense, table], lr=0.1)
    loss = (dense * torch.tensor([2.0, -1.0, 0.5])).sum()
    loss = loss + torch.nn.functional.embedding(torch.tensor([1, 3]), table, sparse=True).sum()
    loss.backward()
    opt.step()
    # Adam's first step is lr * sign(gradient) (bias-corrected m / sqrt(v)).
    np.testing.assert_allclose(dense.detach().numpy(), [0.9, -1.9, 2.9], atol=1e-5)
    moved = table.detach().numpy()
    np.testing.assert_allclose(moved[[1, 3]], -0.1, atol=1e-5)
    assert (moved[[0, 2, 4]] == 0).all()  # rows outside the batch do not move


def test_fold_in_rows_do_not_depend_on_each_other() -> None:
    torch = torch_module()
    items = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))

    def logits(u, idx):  # type: ignore[no-untyped-def]
        return (u[:, None, :] * items[idx]).sum(-1)

    seeds = [np.array([1, 2, 3]), np.array([7]), np.array([20, 21])]
    negatives = np.arange(10, 19)
    init = np.zeros(4, dtype=np.float32)
    together = fit_playlist_vectors(logits, init, seeds, negatives, steps=15, lr=0.1, reg=0.01)
    alone = fit_playlist_vectors(logits, init, seeds[1:2], negatives, steps=15, lr=0.1, reg=0.01)
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-5, atol=1e-6)
    # The folded-in vector scores its own seeds above the shared negatives.
    scores = together[0] @ items.numpy().T
    assert scores[[1, 2, 3]].mean() > scores[negatives].mean()


def test_seed_ncf_reports_held_out_accuracy_above_the_floor(tmp_path) -> None:
    world = skewed_world()
    model = create("seed-ncf", ["epochs=5"]).fit(world)
    report = model.report  # type: ignore[attr-defined]
    # The last 10% of playlists each lose one (positive, negative) pair to the test set.
    assert report["test_pairs"] == 2 * 30
    assert report["test_floor"] == pytest.approx(0.5)
    assert 0.6 <= report["test_accuracy"] <= 1.0
    model.save(tmp_path)
    again = registry.load(tmp_path)
    assert again.report == report  # type: ignore[attr-defined]


def test_seed_ncf_ranks_every_playlist_alike() -> None:
    # The seed's added embeddings have no interaction term: one order for every query.
    model = create("seed-ncf", ["epochs=2"]).fit(skewed_world())
    recs = model.recommend([Query(seeds=np.array([0, 1])), Query(seeds=np.array([60, 61]))], k=20)
    a = [t for t in recs.items[0] if t not in (60, 61)]
    b = [t for t in recs.items[1] if t not in (0, 1)]
    assert a[:15] == b[:15]


def test_ncf_personalises_and_stops_early_on_validation() -> None:
    world = skewed_world(n_playlists=400)
    model = create(
        "ncf", ["factors=8", "mlp_layers=16,8", "epochs=6", "batch=256", "val_playlists=40"]
    ).fit(world)
    report = model.report  # type: ignore[attr-defined]
    assert 1 <= report["epochs_run"] <= 6
    assert 0.0 <= report["best_val_recall100"] <= 1.0
    recs = model.recommend([Query(seeds=np.array([70, 75, 80]))], k=10)
    assert sum(int(t) >= 60 for t in recs.items[0]) >= 8  # the second cluster's tracks


def test_ncf_rejects_an_unknown_architecture() -> None:
    from spotifier.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="arch"):
        create("ncf", ["arch=transformer"]).fit(skewed_world(n_playlists=20))


def test_gmf_and_mlp_alone_train_and_save(tmp_path) -> None:
    world = skewed_world(n_playlists=100)
    for arch in ("gmf", "mlp"):
        model = create("ncf", [f"arch={arch}", "epochs=2", "val_playlists=0"]).fit(world)
        model.save(tmp_path)
        again = registry.load(tmp_path)
        queries = [Query(seeds=np.array([3, 4]))]
        np.testing.assert_array_equal(
            model.recommend(queries, 10).items, again.recommend(queries, 10).items
        )
