"""`spotifier ingest --engine spark`: slices -> Parquet (partitioned by pid bucket) -> the store.

What runs where:
- driver: lists the slice files, hashes them (the `slices` registry), reads the ids the store
  already holds, and at the end loads the Parquet files into DuckDB (one transaction);
- executors: JSON parsing (multiLine), exploding playlists and tracks, validation, the
  first-appearance ids of new tracks, artists and albums, and writing Parquet.

The store ends up with exactly the tables, ids and values of the DuckDB ingest: new ids are
numbered after the existing ones in order of first appearance by (slice, pid, pos), the first
name seen for a URI is its name, and a playlist breaking a rule is skipped (or, with
`strict`, stops the ingest) — see `spotifier.spark.frames.problems` for the rules, and the
README for the few ways the Spark path's validation differs.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spotifier.errors import InvalidInputError
from spotifier.home import Home
from spotifier.progress import note
from spotifier.spark.store_load import load_into_store, publish, record_rejected, scalar, sql_path
from spotifier.store import INVALID_FILE, IngestReport

EXAMPLES = 5  # as many example problems as the DuckDB ingest reports

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

_KEY_BITS_ROW, _KEY_BITS_POS = 32, 8


def parquet_dir(home: Home) -> Path:
    return home.root / "parquet"


def file_md5(path: Path) -> str:
    """md5 of the file's bytes as stored (compressed for .gz), as the DuckDB ingest records it."""
    h = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _order_key(file_order: Any, slice_row: Any, pos: Any) -> Any:
    """One sortable long for (slice, playlist row, position): the order of first appearance."""
    from pyspark.sql import functions as F

    return (
        F.shiftleft(file_order.cast("long"), _KEY_BITS_ROW + _KEY_BITS_POS)
        + F.shiftleft(slice_row.cast("long"), _KEY_BITS_POS)
        + pos.cast("long")
    )


_KNOWN = {
    "tracks": ("track_uri", "track_name", "track_idx"),
    "artists": ("artist_uri", "artist_name", "artist_idx"),
    "albums": ("album_uri", "album_name", "album_idx"),
}


def _read_known(spark: Any, con: Any, staging: Path) -> dict[str, DataFrame]:
    """The store's existing ids and names (and pids), exported by DuckDB and read by Spark."""
    from pyspark.sql import functions as F

    queries = {
        table: f"SELECT {uri} AS uri, {name} AS name, {idx} AS idx FROM {table}"
        for table, (uri, name, idx) in _KNOWN.items()
    }
    queries["pids"] = "SELECT pid FROM playlists"
    schemas = {table: "uri string, name string, idx int" for table in _KNOWN}
    schemas["pids"] = "pid long"
    out = {}
    for name, query in queries.items():
        if scalar(con, f"SELECT count(*) FROM ({query})") == 0:
            columns = [c.split() for c in schemas[name].split(", ")]
            out[name] = spark.range(0).select(
                *[F.lit(None).cast(kind).alias(col) for col, kind in columns]
            )
            continue
        target = staging / f"known_{name}.parquet"
        con.execute(f"COPY ({query}) TO {sql_path(target)} (FORMAT PARQUET)")
        out[name] = spark.read.schema(schemas[name]).parquet(str(target))
    return out


def _pid_checks(playlists: DataFrame, known_pids: DataFrame) -> DataFrame:
    """A pid repeated within a file, in an earlier file, or already in the store makes the
    later playlist invalid (listed, the rest loads), as in the DuckDB ingest."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first_in_file = Window.partitionBy("file_order", "pid").orderBy("slice_row")
    playlists = playlists.withColumn(
        "problem",
        F.when(F.col("problem").isNotNull(), F.col("problem"))
        .when(
            F.row_number().over(first_in_file) > 1,
            F.concat(F.lit("pid: duplicate: already in "), F.col("file")),
        )
        .otherwise(F.lit(None).cast("string")),
    )
    valid_file = F.when(F.col("problem").isNull(), F.col("file_order"))
    first_file = F.min(valid_file).over(Window.partitionBy("pid"))
    stored = known_pids.select("pid", F.lit(True).alias("_stored"))
    clash = F.col("problem").isNull() & (
        (F.col("file_order") > first_file) | F.coalesce("_stored", F.lit(False))
    )
    return (
        playlists.join(F.broadcast(stored), "pid", "left")
        .withColumn(
            "problem",
            F.when(clash, F.lit("pid: already in the store (another slice)")).otherwise(
                F.col("problem")
            ),
        )
        .drop("_stored")
    )


def _name_conflicts(entries: DataFrame, known: dict[str, DataFrame]) -> DataFrame:
    """Playlists that name a URI differently, by the DuckDB ingest's two rules.

    Inside a slice file the first use of a URI sets its name (as the DuckDB ingest's per-slice
    consistency check does); and a name must equal the one stored before this file (in the
    store, or the URI's first use in an earlier file of this ingest). Returns
    (file_order, slice_row, conflict): one row per rejected playlist.
    """
    from pyspark.sql import functions as F

    conflicts = []
    for kind in ("track", "artist", "album"):
        uri, name = f"{kind}_uri", f"{kind}_name"
        in_file = entries.groupBy("file_order", uri).agg(F.min_by(name, "key").alias("_in_file"))
        first = entries.groupBy(uri).agg(
            F.min_by(name, "key").alias("_first"), F.min("file_order").alias("_first_file")
        )
        stored = known[f"{kind}s"].select(F.col("uri").alias(uri), F.col("name").alias("_known"))
        before = first.join(stored, uri, "left")
        checked = entries.join(in_file, ["file_order", uri]).join(before, uri)
        earlier = F.coalesce(
            F.col("_known"), F.when(F.col("_first_file") < F.col("file_order"), F.col("_first"))
        )
        conflicts.append(
            checked.where(
                (F.col(name) != F.col("_in_file"))
                | (earlier.isNotNull() & (F.col(name) != earlier))
            )
            .groupBy("file_order", "slice_row")
            .agg(F.min("pos").alias("_pos"))
            .select(
                "file_order",
                "slice_row",
                F.concat(
                    F.lit("tracks["),
                    F.col("_pos").cast("string"),
                    F.lit(f"].{name}: the {kind} is named differently elsewhere"),
                ).alias("conflict"),
            )
        )
    return (
        conflicts[0]
        .unionByName(conflicts[1])
        .unionByName(conflicts[2])
        .groupBy("file_order", "slice_row")
        .agg(F.min("conflict").alias("conflict"))
    )


def _explode(playlists: DataFrame) -> DataFrame:
    """One row per entry, with its order key (file, playlist row, pos)."""
    from pyspark.sql import functions as F

    return playlists.select(
        "file_order", "slice_row", "pid", F.explode("tracks").alias("t")
    ).select(
        "file_order",
        "slice_row",
        "pid",
        F.col("t.pos").cast("int").alias("pos"),
        "t.track_uri",
        "t.track_name",
        "t.artist_uri",
        "t.artist_name",
        "t.album_uri",
        "t.album_name",
        F.col("t.duration_ms").cast("int").alias("duration_ms"),
        _order_key(F.col("file_order"), F.col("slice_row"), F.col("t.pos")).alias("key"),
    )


def _new_ids(
    entries: DataFrame, known: DataFrame, offset: int, uri: str, idx: str, attributes: list[str]
) -> DataFrame:
    """URIs not in the store, with first-appearance attributes and ids from `offset` on."""
    from pyspark.sql import functions as F

    from spotifier.spark.frames import dense_index

    first = entries.groupBy(uri).agg(
        F.min("key").alias("key"), *[F.min_by(c, "key").alias(c) for c in attributes]
    )
    fresh = first.join(known.select(F.col("uri").alias(uri)), uri, "left_anti")
    return dense_index(fresh, "key", idx, offset).drop("key").cache()


def text_megabytes(path: Path) -> float:
    """The JSON text size in MB (a .gz file's uncompressed size, from its trailer)."""
    size = path.stat().st_size
    if path.name.endswith(".gz") and size >= 4:
        with path.open("rb") as fh:
            fh.seek(-4, 2)
            size = int.from_bytes(fh.read(4), "little")  # ISIZE: exact below 4 GB
    return size / 1e6


def ingest(
    home: Home | str | Path,
    mpd_dir: str | Path,
    master: str | None = "local[*]",
    strict: bool = False,
    memory: str | None = None,
) -> IngestReport:
    """Ingest the slices at `mpd_dir` with Spark; slices already in the store are skipped.

    The result is the DuckDB ingest's: the same tables, ids and values, the same report and
    `invalid_playlists.jsonl`. A slice Spark cannot read (corrupt, truncated, not a slice) is
    named in `report.rejected_files` and the others are read again without it, as the DuckDB
    ingest skips it. With `strict`, the first invalid playlist or unreadable slice raises
    `InvalidInputError` and nothing is ingested. Playlists and entries are also kept as Parquet
    in `home/parquet/{playlists,entries}/pid_bucket=<pid // 50000>/`.
    """
    from spotifier.mpd.reader import iter_slice_files
    from spotifier.spark.session import DEFAULT_MEMORY, session
    from spotifier.store.schema import connect, record_source_root

    home = home if isinstance(home, Home) else Home.resolve(home)
    mpd_dir = Path(mpd_dir)
    started = time.perf_counter()
    files = iter_slice_files(mpd_dir)
    report = IngestReport(source=str(mpd_dir), slices_found=len(files))
    fresh = not home.store_path.exists()
    con = connect(home, read_only=False)
    if fresh:
        (home.root / INVALID_FILE).unlink(missing_ok=True)
    try:
        known_md5 = dict(con.execute("SELECT file, md5 FROM slices").fetchall())
        digests = {f: file_md5(f) for f in files}
        todo = [f for f in files if known_md5.get(f.name) != digests[f]]
        report.slices_skipped = len(files) - len(todo)
        if todo:
            spark = session(master, memory or DEFAULT_MEMORY)
            todo = _run_skipping_unreadable(spark, con, home, todo, digests, strict, report)
            report.slices_ingested = len(todo)
            report.megabytes = sum(text_megabytes(f) for f in todo)
            con.execute("CHECKPOINT")
    finally:
        con.close()
    record_source_root(home, mpd_dir)
    report.seconds = time.perf_counter() - started
    return report


class _Unreadable(InvalidInputError):
    """A slice Spark could not read at all; `name` is its file name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _run_skipping_unreadable(
    spark: Any,
    con: Any,
    home: Home,
    todo: list[Path],
    digests: dict[Path, str],
    strict: bool,
    report: IngestReport,
) -> list[Path]:
    """`_run` over `todo`; each slice found unreadable is listed in `report.rejected_files` and
    the rest is run again without it (nothing is written before the check that finds it).
    Returns the slices ingested."""
    while todo:
        staging = parquet_dir(home) / f".staging-{uuid.uuid4().hex[:12]}"
        staging.mkdir(parents=True)
        try:
            _run(spark, con, home, todo, digests, staging, strict, report)
            publish(staging, parquet_dir(home))
            return todo
        except _Unreadable as exc:
            if strict:
                raise InvalidInputError(f"{exc} (--strict: nothing was ingested)") from exc
            rest = [f for f in todo if f.name != exc.name]
            if len(rest) == len(todo):  # not one of ours: no way to go on without it
                raise
            report.rejected_files.append(str(exc))  # skipped whole; the others load
            todo = rest
            spark.catalog.clearCache()  # the failed run's cached frames: read again anyway
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return todo


def _run(
    spark: Any,
    con: Any,
    home: Home,
    files: list[Path],
    digests: dict[Path, str],
    staging: Path,
    strict: bool,
    report: IngestReport,
) -> None:
    from pyspark.sql import functions as F

    from spotifier.spark.frames import PID_BUCKET, problems, read_playlists

    known = _read_known(spark, con, staging)
    note(f"reading {len(files)} slice file(s) with Spark")
    playlists = read_playlists(spark, [str(f) for f in files])
    playlists = _pid_checks(playlists.withColumn("problem", problems(playlists)), known["pids"])
    playlists = playlists.cache()  # parsed once; everything below reads this
    candidates = _explode(playlists.where(F.col("problem").isNull())).cache()
    conflicts = _name_conflicts(candidates, known).cache()
    playlists = playlists.join(F.broadcast(conflicts), ["file_order", "slice_row"], "left")
    playlists = playlists.withColumn("problem", F.coalesce("problem", "conflict"))

    # One pass collects everything the driver must see: broken files and rejections.
    wanted = F.col("slice_row").isNull() | F.col("problem").isNotNull()
    try:
        flagged = (
            playlists.where(wanted)
            .select("file", "file_order", "slice_row", "pid", "problem")
            .orderBy("file_order", "slice_row")
            .collect()
        )
    except Exception as exc:  # a file Spark cannot even read (e.g. a truncated .gz)
        raise _unreadable(exc) from exc
    for row in flagged:
        if row["slice_row"] is None:
            raise _Unreadable(
                row["file"],
                f"{row['file']}: not valid JSON or not an MPD slice (corrupt or truncated?)",
            )
    if flagged and strict:
        first = flagged[0]
        raise InvalidInputError(
            f"{first['file']}: pid {first['pid']}: {first['problem']} "
            "(--strict: nothing was ingested)"
        )
    record_rejected(home, flagged, report)

    valid = playlists.where(F.col("problem").isNull())
    entries = candidates.join(
        F.broadcast(conflicts.select("file_order", "slice_row")),
        ["file_order", "slice_row"],
        "left_anti",
    ).cache()
    offsets = {table: scalar(con, f"SELECT count(*) FROM {table}") for table in _KNOWN}
    artists = _new_ids(
        entries, known["artists"], offsets["artists"], "artist_uri", "artist_idx", ["artist_name"]
    )
    albums = _new_ids(
        entries,
        known["albums"],
        offsets["albums"],
        "album_uri",
        "album_idx",
        ["album_name", "artist_uri"],
    )
    tracks = _new_ids(
        entries,
        known["tracks"],
        offsets["tracks"],
        "track_uri",
        "track_idx",
        ["track_name", "artist_uri", "album_uri", "duration_ms"],
    )

    def ids(kind: str, fresh: DataFrame) -> DataFrame:
        old = known[f"{kind}s"].select(
            F.col("uri").alias(f"{kind}_uri"), F.col("idx").cast("int").alias(f"{kind}_idx")
        )
        return old.unionByName(fresh.select(f"{kind}_uri", f"{kind}_idx"))

    artist_ids, album_ids = ids("artist", artists), ids("album", albums)
    bucket = F.floor(F.col("pid") / F.lit(PID_BUCKET)).cast("long").alias("pid_bucket")
    artists.select("artist_idx", "artist_uri", "artist_name").write.parquet(
        str(staging / "artists")
    )
    albums.join(artist_ids, "artist_uri").select(
        "album_idx", "album_uri", "album_name", "artist_idx"
    ).write.parquet(str(staging / "albums"))
    tracks.join(artist_ids, "artist_uri").join(album_ids, "album_uri").select(
        "track_idx", "track_uri", "track_name", "artist_idx", "album_idx", "duration_ms"
    ).write.parquet(str(staging / "tracks"))
    valid.select(
        "pid",
        "name",
        "description",
        (F.col("collaborative") == "true").alias("collaborative"),
        "modified_at",
        F.col("num_tracks").cast("int"),
        F.col("num_albums").cast("int"),
        F.col("num_artists").cast("int"),
        "num_followers",
        "num_edits",
        "duration_ms",
        bucket,
    ).write.partitionBy("pid_bucket").parquet(str(staging / "playlists"))
    entries.join(ids("track", tracks), "track_uri").select(
        "pid", "pos", "track_idx", bucket
    ).write.partitionBy("pid_bucket").parquet(str(staging / "entries"))
    per_file = {row["file"]: row["count"] for row in valid.groupBy("file").count().collect()}
    note("loading the Parquet files into the store")
    load_into_store(con, staging, files, digests, per_file, report)


def _unreadable(exc: Exception) -> Exception:
    """One clear error naming the file Spark failed to read, else the original exception."""
    import re

    match = re.search(r"error while reading file (\S+?)\.?\s", str(exc))
    if match is None:
        return exc
    name = match.group(1).rsplit("/", 1)[-1]
    return _Unreadable(name, f"{name}: cannot read (corrupt or truncated?)")
