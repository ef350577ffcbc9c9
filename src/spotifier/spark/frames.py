"""The Spark side of ingest: slices -> validated playlists, entries and first-appearance ids.

Everything here is a DataFrame transformation that runs on the executors; only the list of slice
files (driver side) and a handful of per-partition counts are ever collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spotifier.mpd.format import MAX_TRACKS, MIN_TRACKS
from spotifier.mpd.validate import MAX_PID

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

#: Playlists per Parquet partition folder (`pid_bucket = pid // PID_BUCKET`): 20 folders at 1M.
PID_BUCKET = 50_000
_URI_PATTERN = "^spotify:{kind}:[0-9A-Za-z]{{22}}$"


def slice_schema() -> Any:
    """The explicit schema of a slice file (no inference pass; unknown keys are ignored)."""
    from pyspark.sql import types as T

    track = T.StructType(
        [
            T.StructField("pos", T.LongType()),
            T.StructField("artist_name", T.StringType()),
            T.StructField("track_uri", T.StringType()),
            T.StructField("artist_uri", T.StringType()),
            T.StructField("track_name", T.StringType()),
            T.StructField("album_uri", T.StringType()),
            T.StructField("duration_ms", T.LongType()),
            T.StructField("album_name", T.StringType()),
        ]
    )
    playlist = T.StructType(
        [
            T.StructField("name", T.StringType()),
            T.StructField("collaborative", T.StringType()),
            T.StructField("pid", T.LongType()),
            T.StructField("modified_at", T.LongType()),
            T.StructField("num_tracks", T.LongType()),
            T.StructField("num_albums", T.LongType()),
            T.StructField("num_followers", T.LongType()),
            T.StructField("tracks", T.ArrayType(track)),
            T.StructField("num_edits", T.LongType()),
            T.StructField("duration_ms", T.LongType()),
            T.StructField("num_artists", T.LongType()),
            T.StructField("description", T.StringType()),
        ]
    )
    return T.StructType(
        [
            T.StructField("playlists", T.ArrayType(playlist)),
            T.StructField("_corrupt_record", T.StringType()),
        ]
    )


def read_playlists(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """One row per playlist: its file, file order, row in the slice, and fields.

    A file that is not a slice (corrupt JSON, no `playlists` list) gives one row whose
    `slice_row` is null.
    """
    from pyspark.sql import functions as F

    # A literal map, not a DataFrame built from Python rows: those would start Python workers.
    order = F.create_map(*[F.lit(x) for i, f in enumerate(files) for x in (name_of(f), i)])
    raw = (
        spark.read.schema(slice_schema())
        .option("multiLine", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .json(list(files))
        .withColumn("file", F.element_at(F.split(F.input_file_name(), "/"), -1))
    )
    playlists = (
        raw.select(
            "file",
            F.col("playlists").isNull().alias("not_a_slice"),
            F.posexplode_outer("playlists").alias("slice_row", "p"),
        )
        .where(F.col("slice_row").isNotNull() | F.col("not_a_slice"))
        .select("file", F.col("slice_row").cast("long"), "p.*")
    )
    return playlists.withColumn("file_order", order[F.col("file")].cast("int"))


def name_of(path: str) -> str:
    """The file name Spark's `input_file_name()` ends with (URL-quoted like Hadoop paths)."""
    from urllib.parse import quote

    return quote(path.rstrip("/").rsplit("/", 1)[-1])


def _uri_ok(field: str, kind: str) -> Column:
    from pyspark.sql import functions as F

    return F.forall(
        "tracks",
        lambda t: F.coalesce(t[field].rlike(_URI_PATTERN.format(kind=kind)), F.lit(False)),
    )


def problems(playlists: DataFrame) -> Column:
    """The first rule a playlist breaks ("field: message"), or null when it is valid.

    The rules of the MPD checker (MPD.md): required fields present, `pos == i`, the counts and
    the total duration agree with the tracks, well-formed URIs, followers and edits >= 1, a
    non-empty name, 5-250 tracks, `collaborative` a "true"/"false" string.
    """
    from pyspark.sql import functions as F

    tracks = F.col("tracks")
    rules: list[tuple[Column, str]] = [
        (F.col("pid").isNull(), "pid: missing or not an integer"),
        ((F.col("pid") < 0) | (F.col("pid") > MAX_PID), f"pid: outside 0..{MAX_PID}"),
        (F.col("name").isNull(), "name: missing or not a string"),
        (F.length("name") == 0, "name: not a non-empty string"),
        (tracks.isNull(), "tracks: missing or not a list"),
    ]
    for field in ("modified_at", "num_tracks", "num_albums", "num_followers", "num_edits"):
        rules.append((F.col(field).isNull(), f"{field}: missing or not an integer"))
    for field in ("duration_ms", "num_artists"):
        rules.append((F.col(field).isNull(), f"{field}: missing or not an integer"))
    rules.append((F.col("collaborative").isNull(), "collaborative: missing"))
    rules += [
        (~F.col("collaborative").isin("true", "false"), "collaborative: is not 'true'/'false'"),
        (
            ~F.forall(
                tracks,
                lambda t: (
                    t["pos"].isNotNull()
                    & t["track_uri"].isNotNull()
                    & t["artist_uri"].isNotNull()
                    & t["album_uri"].isNotNull()
                    & t["duration_ms"].isNotNull()
                    & t["track_name"].isNotNull()
                    & t["artist_name"].isNotNull()
                    & t["album_name"].isNotNull()
                ),
            ),
            "tracks: a track misses a field",
        ),
        (
            ~F.forall(tracks, lambda t: (t["duration_ms"] >= 0) & (t["duration_ms"] < 2**31)),
            "tracks: a duration_ms is not an int >= 0",
        ),
        (F.col("modified_at") < 0, "modified_at: negative"),
        (
            ~F.forall(F.transform(tracks, lambda t, i: t["pos"] == i), lambda ok: ok),
            "tracks: pos is not 0, 1, 2, ...",
        ),
        (
            ~_uri_ok("track_uri", "track"),
            "tracks: a track_uri is not spotify:track:<22 base62 chars>",
        ),
        (
            ~_uri_ok("artist_uri", "artist"),
            "tracks: an artist_uri is not spotify:artist:<22 base62 chars>",
        ),
        (
            ~_uri_ok("album_uri", "album"),
            "tracks: an album_uri is not spotify:album:<22 base62 chars>",
        ),
        (F.size(tracks) != F.col("num_tracks"), "num_tracks: differs from the number of tracks"),
        (
            (F.size(tracks) < MIN_TRACKS) | (F.size(tracks) > MAX_TRACKS),
            f"tracks: outside {MIN_TRACKS}..{MAX_TRACKS} tracks",
        ),
        (
            F.size(F.array_distinct(tracks["album_uri"])) != F.col("num_albums"),
            "num_albums: differs from the unique albums",
        ),
        (
            F.size(F.array_distinct(tracks["artist_uri"])) != F.col("num_artists"),
            "num_artists: differs from the unique artists",
        ),
        (
            F.aggregate(tracks["duration_ms"], F.lit(0).cast("long"), lambda acc, d: acc + d)
            != F.col("duration_ms"),
            "duration_ms: differs from the sum of track durations",
        ),
        (F.col("num_followers") < 1, "num_followers: < 1"),
        (F.col("num_edits") < 1, "num_edits: < 1"),
    ]
    problem: Any = F
    for condition, message in rules:
        problem = problem.when(condition, F.lit(message))
    return problem.otherwise(F.lit(None).cast("string"))


def dense_index(frame: DataFrame, order: str, name: str, offset: int) -> DataFrame:
    """Add column `name` = offset + the 0-based rank of each row by `order` (distinct keys).

    A window without partitions sorts in one task: fine for the new URIs of an ingest (2.3M
    tracks at full MPD scale, a few columns each), and one stage instead of a range sort's three.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rank = F.row_number().over(Window.orderBy(order)) - 1 + F.lit(offset)
    return frame.withColumn(name, rank.cast("int"))
