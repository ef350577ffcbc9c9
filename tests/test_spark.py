"""The Spark engine in local mode on a small generated world.

Spark ingest must leave the store exactly as the DuckDB ingest does (same tables, ids, values,
rejections), and Spark MLlib ALS, exported into the `als` model, must beat popularity on
held-out tracks. One Spark session serves the whole module (a JVM start costs seconds).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest

from spotifier import store
from spotifier.data import Interactions, Query, TrainingData
from spotifier.errors import InvalidInputError
from spotifier.home import Home
from spotifier.metrics import recall_at
from spotifier.mpd.reader import iter_slice_files, read_slice
from spotifier.mpd.writer import write_slice
from spotifier.spark.session import java_available, pyspark_available

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(not pyspark_available(), reason="pyspark is not installed"),
    pytest.mark.skipif(not java_available(), reason="no Java runtime (java / $JAVA_HOME)"),
]

MASTER = "local[2]"
TABLES = {
    "playlists": "pid",
    "tracks": "track_idx",
    "artists": "artist_idx",
    "albums": "album_idx",
    "entries": "pid, pos",
}


def _resplit(data_dir: Path, size: int = 200) -> None:
    """Rewrite the world as slices of `size` playlists (the last one gzipped): several files."""
    playlists = [p for f in iter_slice_files(data_dir) for p in read_slice(f)["playlists"]]
    for f in iter_slice_files(data_dir):
        f.unlink()
    for start in range(0, len(playlists), size):
        chunk = playlists[start : start + size]
        first, last = chunk[0]["pid"], chunk[-1]["pid"]
        name = f"mpd.slice.{first}-{last}.json"
        write_slice(data_dir / name, chunk, f"{first}-{last}", gzip=start + size >= len(playlists))


def _break_some_playlists(data_dir: Path) -> None:
    """Rules the ingest must enforce, broken in the first slice (both engines skip these)."""
    path = iter_slice_files(data_dir)[0]
    doc = read_slice(path)
    pls = doc["playlists"]
    pls[3]["num_tracks"] += 1  # count differs from the tracks
    pls[5]["name"] = ""  # empty name
    pls[7]["tracks"][0]["track_uri"] = "spotify:track:short"  # malformed URI
    pls[9]["pid"] = pls[8]["pid"]  # duplicate pid inside the slice
    pls[11]["num_followers"] = 0  # followers >= 1
    # a later use of a URI (first used earlier in this slice) under another name
    first_uri = pls[0]["tracks"][0]["track_uri"]
    for playlist in pls[20:]:
        for track in playlist["tracks"]:
            if track["track_uri"] == first_uri:
                track["track_name"] = "A different name"
                break
        else:
            continue
        break
    write_slice(path, pls, doc["info"]["slice"], doc["info"]["generated_on"])


@pytest.fixture(scope="module")
def spark_world(tmp_path_factory: pytest.TempPathFactory):
    """A 600-playlist world (one slice damaged), ingested by DuckDB and by Spark."""
    from spotifier.spark import ingest as spark_ingest
    from spotifier.spark import session, stop
    from spotifier.synth import generate

    root = tmp_path_factory.mktemp("spark")
    world = root / "world"
    generate(world, 600, seed=5)
    _resplit(world / "data")
    _break_some_playlists(world / "data")
    duck, spark = Home(root / "duck"), Home(root / "spark")
    duck_report = store.ingest(duck, world, workers=1)
    session(MASTER, "2g")
    spark_report = spark_ingest(spark, world, MASTER)
    yield world, duck, spark, duck_report, spark_report
    stop()


def _rows(home: Home, table: str, order: str) -> list[tuple]:
    with store.connect(home) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()


def test_spark_ingest_equals_duckdb_ingest(spark_world):
    _world, duck, spark, duck_report, spark_report = spark_world
    assert duck_report.invalid_playlists >= 6  # the damage above was seen
    for table, order in TABLES.items():
        assert _rows(spark, table, order) == _rows(duck, table, order), table
    with store.connect(duck) as a, store.connect(spark) as b:
        for table in TABLES:
            assert (
                a.execute(f"DESCRIBE {table}").fetchall()
                == b.execute(f"DESCRIBE {table}").fetchall()
            )
        query = "SELECT file, md5, playlists FROM slices ORDER BY file"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        # the seed's derived features come out the same through the shared view
        features = "SELECT * FROM playlist_features ORDER BY pid"
        assert a.execute(features).fetchall() == b.execute(features).fetchall()
    for key in ("slices_found", "slices_ingested", "playlists", "entries", "invalid_playlists"):
        assert getattr(spark_report, key) == getattr(duck_report, key), key
    bad_duck = [
        orjson.loads(x)["pid"] for x in (duck.root / store.INVALID_FILE).read_text().splitlines()
    ]
    bad_spark = [
        orjson.loads(x)["pid"] for x in (spark.root / store.INVALID_FILE).read_text().splitlines()
    ]
    assert sorted(bad_spark) == sorted(bad_duck)


def test_spark_ingest_gives_the_same_interactions_and_parquet(spark_world):
    import pyarrow.parquet as pq

    _world, duck, spark, *_ = spark_world
    a, b = store.load_interactions(duck), store.load_interactions(spark)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.tracks, b.tracks)
    assert np.array_equal(a.pids, b.pids) and a.titles.tolist() == b.titles.tolist()
    assert store.load_catalog(spark).track_uris.tolist() == (
        store.load_catalog(duck).track_uris.tolist()
    )
    entries = pq.read_table(spark.root / "parquet" / "entries")  # hive partitions by pid bucket
    assert entries.num_rows == b.n_entries
    assert sorted(set(entries["pid_bucket"].to_pylist())) == sorted(
        {int(p) // 50_000 for p in b.pids}
    )
    playlists = pq.read_table(spark.root / "parquet" / "playlists")
    assert sorted(playlists["pid"].to_pylist()) == sorted(b.pids.tolist())


def test_spark_ingest_is_idempotent_and_strict_stops(spark_world, tmp_path):
    from spotifier.spark import ingest as spark_ingest

    world, _duck, spark, *_ = spark_world
    before = {t: _rows(spark, t, o) for t, o in TABLES.items()}
    again = spark_ingest(spark, world, MASTER)
    assert again.slices_skipped == again.slices_found and again.slices_ingested == 0
    assert {t: _rows(spark, t, o) for t, o in TABLES.items()} == before

    strict_home = Home(tmp_path / "strict")
    with pytest.raises(InvalidInputError, match=r"mpd\.slice\.0-\d+\.json: pid \d+: "):
        spark_ingest(strict_home, world, MASTER, strict=True)
    with store.connect(strict_home) as con:
        assert con.execute("SELECT count(*) FROM playlists").fetchone() == (0,)


@pytest.mark.parametrize("which", [0, -1], ids=["json", "gzip"])
def test_spark_ingest_skips_a_corrupt_file_as_duckdb_does(spark_world, tmp_path, which):
    from spotifier.spark import ingest as spark_ingest

    world = spark_world[0]
    broken = tmp_path / "broken"
    shutil.copytree(world / "data", broken)
    victim = iter_slice_files(broken)[which]
    victim.write_bytes(victim.read_bytes()[:5000])  # truncated
    spark, duck = Home(tmp_path / "h"), Home(tmp_path / "duck")
    report = spark_ingest(spark, broken, MASTER)
    assert len(report.rejected_files) == 1 and victim.name in report.rejected_files[0]
    assert report.slices_ingested == len(iter_slice_files(broken)) - 1
    duck_report = store.ingest(duck, broken, workers=1)
    assert len(duck_report.rejected_files) == 1  # the DuckDB ingest skips it too
    for table, order in (("playlists", "pid"), ("tracks", "track_idx"), ("entries", "pid, pos")):
        assert _rows(spark, table, order) == _rows(duck, table, order), table
    strict = Home(tmp_path / "strict")
    with pytest.raises(InvalidInputError, match=re.escape(victim.name) + ".*--strict"):
        spark_ingest(strict, broken, MASTER, strict=True)
    with store.connect(strict) as con:
        assert con.execute("SELECT count(*) FROM playlists").fetchone() == (0,)


def test_spark_ingest_lists_a_pid_stored_by_another_slice_and_loads_the_rest(spark_world, tmp_path):
    from spotifier.spark import ingest as spark_ingest

    world = spark_world[0]
    first = iter_slice_files(world)[0]
    again = tmp_path / "again"
    again.mkdir()
    data = read_slice(first)
    pid = data["playlists"][0]["pid"]
    write_slice(again / "mpd.slice.900000-900999.json", data["playlists"][:2], "900000-900999")
    home = Home(tmp_path / "h")
    spark_ingest(home, first, MASTER)
    report = spark_ingest(home, again, MASTER)
    assert report.invalid_playlists == 2  # both pids are stored already
    listed = [
        orjson.loads(line) for line in (home.root / store.INVALID_FILE).read_bytes().splitlines()
    ]
    # (the world's own invalid playlists come first, from the first ingest)
    assert listed[-2]["pid"] == pid and listed[-2]["violations"][0]["field"] == "pid"
    assert listed[-2]["violations"][0]["message"] == "already in the store (another slice)"


def _hold_out(inter: Interactions, every: int = 5, keep: int = 5):
    """Every `every`-th playlist (>= 15 tracks) keeps its first `keep` tracks; the rest is truth."""
    playlists, queries, truths = [], [], []
    for row in range(inter.n_playlists):
        tracks = inter.playlist(row).tolist()
        if row % every == 0 and len(tracks) >= 15:
            seeds = tracks[:keep]
            truth = set(tracks[keep:]) - set(seeds)
            if truth:
                queries.append(Query(seeds=np.asarray(seeds)))
                truths.append(truth)
                tracks = seeds
        playlists.append(tracks)
    train = Interactions.from_lists(playlists, inter.n_tracks)
    return train, queries, truths


def _mean_recall(model, queries, truths, k: int = 50) -> float:
    recs = model.recommend(queries, k=k)
    return float(np.mean([recall_at(recs.row(i)[0].tolist(), t, k) for i, t in enumerate(truths)]))


def test_spark_als_beats_popularity_and_saves_as_als(spark_world):
    from spotifier.models import persist
    from spotifier.models.als import ALS, ALSConfig
    from spotifier.models.popularity import Popularity
    from spotifier.spark import fit_als, train_als

    _world, _duck, spark, *_ = spark_world
    catalog = store.load_catalog(spark)
    train, queries, truths = _hold_out(store.load_interactions(spark))
    data = TrainingData.from_catalog(train, catalog)
    config = ALSConfig(factors=32, iterations=8)
    model = fit_als(data, config, MASTER)
    assert isinstance(model, ALS) and model.item_factors.shape == (data.n_tracks, 32)
    popularity = Popularity().fit(data)
    als_recall, pop_recall = (
        _mean_recall(model, queries, truths),
        _mean_recall(popularity, queries, truths),
    )
    assert als_recall > 1.2 * pop_recall, (als_recall, pop_recall)

    # saved through persist like any `als` model, with the engine in its meta
    saved = train_als(spark, master=MASTER, overrides=["factors=16", "iterations=3"])
    meta = json.loads((spark.model_dir("als") / "meta.json").read_text())
    assert meta["engine"] == "spark" and meta["model"] == "als"
    loaded = persist.load(spark, "als")
    assert type(loaded) is ALS and loaded.config == saved.config
    np.testing.assert_array_equal(loaded.item_factors, saved.item_factors)
    q = [Query(seeds=np.asarray(store.load_interactions(spark).playlist(0)[:3]))]
    assert loaded.recommend(q, k=20).items.tolist() == saved.recommend(q, k=20).items.tolist()
