"""Tabular ingest, part 2: one file read by DuckDB's own reader into checked rows, in SQL.

`read_rows` sets up views of the file in the canonical columns (`key`, `track`, `position`,
`title`, ...) with each row's number in the file (`_row`), and a table `_bad` of the invalid
rows with `why`, the first rule each breaks ("field: message"). Every rule is one SQL expression
over whole columns; no Python runs per row. `store.tabular` checks the rules that need the whole
file (repeated positions, stored ids) and writes the rest.

The rules: the playlist id and the track id are not empty; `position`,
`duration_ms`, `num_followers` and `num_edits` are whole numbers >= 0; `modified_at` is epoch
seconds or an ISO date; `collaborative` is true/false (also t/f, 1/0, yes/no); a title has at
most `MAX_TITLE` characters and a description `MAX_DESCRIPTION` (longer ones are rejected, not
truncated: a cut title would be a different title); a position is not repeated within its
playlist (the later row is the invalid one); the playlist id is not already in the store.

Names-only ids: when no track id is mapped but the track and artist names are, the track's id
is `normalize(artist) + " — " + normalize(track)`, where `normalize` is Unicode NFC, lower case,
runs of whitespace as one space and no surrounding spaces. Artists without an id get
`normalize(artist_name)`, albums without one `normalize(artist) + " — " + normalize(album)`.
The same names give the same ids on every run and machine.
"""

from __future__ import annotations

import duckdb

from spotifier.store.tabular_map import KEY_JOINER, Source

MAX_TITLE = 1_000
MAX_DESCRIPTION = 10_000
NAME_JOINER = " — "
# (list_contains, not `IN (...)`: DuckDB may plan an IN list as a join, which loses the file's
# row order that `_row` is read from)
_TRUE = "['true', 't', '1', 'yes', 'y']"
_FALSE = "['false', 'f', '0', 'no', 'n']"


def sql_string(text: str) -> str:
    """A SQL string literal.

    >>> sql_string("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier (any header, quotes and all)."""
    return '"' + name.replace('"', '""') + '"'


def reader_sql(source: Source) -> str:
    """DuckDB's table function reading `source` (compression from the `.gz` ending). CSV and TSV
    are read as text (ids such as "007" stay as written), with malformed lines set aside in
    `_rejects` instead of failing the file."""
    path = sql_string(str(source.path))
    if source.format in ("csv", "tsv"):
        delim = ", delim = '\\t'" if source.format == "tsv" else ""
        return (
            f"read_csv({path}, header = true, all_varchar = true, store_rejects = true, "
            f"rejects_table = '_rejects', rejects_scan = '_rejects_scan'{delim})"
        )
    if source.format == "parquet":
        return f"read_parquet({path})"
    layout = "newline_delimited" if source.format == "jsonl" else "array"
    return f"read_json({path}, format = '{layout}')"


def normalize_sql(expr: str) -> str:
    """SQL for `normalize` (see the module docstring)."""
    return f"trim(regexp_replace(lower(nfc_normalize({expr})), '\\s+', ' ', 'g'))"


def _text(column: str, kind: str) -> str:
    """A column as text; JSON values (mixed types) without their quotes."""
    if kind == "JSON":
        return f"json_extract_string({ident(column)}, '$')"
    return f"CAST({ident(column)} AS VARCHAR)"


def _id(column: str, kind: str) -> str:
    """An id or name as text, '' as missing; text read from CSV/TSV/JSON is trimmed, a
    Parquet string is taken as written (trimming every id costs as much as grouping by it)."""
    if kind == "VARCHAR" and _TYPED_SOURCE[0]:
        return f"nullif({ident(column)}, '')"
    return f"nullif(trim({_text(column, kind)}), '')"


# whether the file being read is Parquet (set by `read_rows` around `canonical_select`)
_TYPED_SOURCE = [False]


def _text_list(column: str, kind: str) -> str:
    """A list column (or a string delimited by `,` `;` `|`) as a list of trimmed strings."""
    col = ident(column)
    if kind.endswith("[]"):
        if kind.startswith("JSON"):
            items = f"list_transform({col}, lambda x: json_extract_string(x, '$'))"
        else:
            items = f"CAST({col} AS VARCHAR[])"
    elif kind == "JSON":
        items = f"from_json({col}, '[\"VARCHAR\"]')"
    else:
        items = f"string_split_regex(CAST({col} AS VARCHAR), '\\s*[,;|]\\s*')"
    return (
        f"list_filter(list_transform({items}, lambda x: trim(x)), "
        "lambda x: x IS NOT NULL AND x <> '')"
    )


_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def _whole_typed(column: str, kind: str, field: str) -> tuple[str, str] | None:
    """`_whole` for an integer column (Parquet, JSON): no text round trip."""
    if kind not in _INTEGERS:
        return None
    col = ident(column)
    return (
        f"CAST({col} AS BIGINT)",
        f"CASE WHEN {col} < 0 THEN '{field}: ' || {col} || ' is not a whole number >= 0' END",
    )


def _whole(raw: str, field: str) -> tuple[str, str]:
    """(value as BIGINT, problem) of a column that must hold a whole number >= 0."""
    num = f"TRY_CAST({raw} AS DOUBLE)"
    ok = f"({num} IS NOT NULL AND {num} = floor({num}) AND {num} >= 0 AND {num} < 9e15)"
    value = f"CASE WHEN {ok} THEN CAST({num} AS BIGINT) END"
    problem = (
        f"CASE WHEN {raw} IS NOT NULL AND NOT {ok} THEN "
        f"'{field}: ' || {raw} || ' is not a whole number >= 0' END"
    )
    return value, problem


def _epoch(column: str, kind: str) -> tuple[str, str]:
    """(epoch seconds, problem) of `modified_at`: a number, a date/time, or ISO text."""
    col = ident(column)
    if kind.startswith(("TIMESTAMP", "DATE")):
        return f"CAST(epoch({col}) AS BIGINT)", "NULL"
    raw = f"nullif(trim({_text(column, kind)}), '')"
    num = f"TRY_CAST({raw} AS DOUBLE)"
    parsed = (
        f"CASE WHEN {num} IS NOT NULL THEN CAST(floor({num}) AS BIGINT) "
        f"ELSE CAST(epoch(TRY_CAST({raw} AS TIMESTAMP)) AS BIGINT) END"
    )
    problem = (
        f"CASE WHEN {raw} IS NOT NULL AND ({parsed}) IS NULL THEN "
        f"'modified_at: ' || {raw} || ' is neither epoch seconds nor a date' END"
    )
    return parsed, problem


def _bool(column: str, kind: str) -> tuple[str, str]:
    if kind == "BOOLEAN":
        return ident(column), "NULL"
    raw = f"lower(nullif(trim({_text(column, kind)}), ''))"
    value = (
        f"CASE WHEN list_contains({_TRUE}, {raw}) THEN true "
        f"WHEN list_contains({_FALSE}, {raw}) THEN false END"
    )
    problem = (
        f"CASE WHEN {raw} IS NOT NULL AND ({value}) IS NULL THEN "
        f"'collaborative: ' || {raw} || ' is not true/false' END"
    )
    return value, problem


def canonical_select(
    cols: dict[str, tuple[str, ...]], types: dict[str, str]
) -> tuple[str, str, str]:
    """The select list turning a file's columns into the canonical ones, the SQL of the first
    problem found in the file's own columns, and the checks of the canonical `key` / `track`
    (run on the select's output)."""
    one = {key: columns[0] for key, columns in cols.items()}

    def text_of(key: str) -> str | None:
        return _id(one[key], types[one[key]]) if key in one else None

    out: dict[str, str] = {}
    problems: list[str] = []
    parts = [_id(c, types[c]) for c in cols["playlist"]]
    if len(parts) == 1:
        out["key"] = parts[0]
    else:  # composite: every part must be there
        present = " AND ".join(f"({p}) IS NOT NULL" for p in parts)
        out["key"] = (
            f"CASE WHEN {present} THEN concat_ws({sql_string(KEY_JOINER)}, {', '.join(parts)}) END"
        )
    artist_name, track_name = text_of("artist_name"), text_of("track_name")
    if "tracks" in one:
        out["tracks"] = _text_list(one["tracks"], types[one["tracks"]])
    elif "track" in one:
        out["track"] = text_of("track") or "NULL"
    else:
        out["track"] = (
            f"{normalize_sql(str(artist_name))} || {sql_string(NAME_JOINER)} || "
            f"{normalize_sql(str(track_name))}"
        )
    out["artist"] = text_of("artist") or (normalize_sql(artist_name) if artist_name else "NULL")
    out["artist_name"] = artist_name or "NULL"
    album_name = text_of("album_name")
    if "album" in one:
        out["album"] = str(text_of("album"))
    elif album_name and artist_name:
        out["album"] = (
            f"{normalize_sql(artist_name)} || {sql_string(NAME_JOINER)} || "
            f"{normalize_sql(album_name)}"
        )
    else:
        out["album"] = "NULL"
    out["album_name"] = album_name or "NULL"
    out["track_name"] = track_name or "NULL"
    for key in ("title", "description"):
        out[key] = f"nullif({_text(one[key], types[one[key]])}, '')" if key in one else "NULL"
    out["tags"] = _text_list(one["tags"], types[one["tags"]]) if "tags" in one else "NULL"
    for key in ("position", "duration_ms", "num_followers", "num_edits"):
        if key in one:
            typed = _whole_typed(one[key], types[one[key]], key)
            trimmed = f"nullif(trim({_text(one[key], types[one[key]])}), '')"
            value, problem = typed or _whole(trimmed, key)
            out[key] = value
            problems.append(problem)
        else:
            out[key] = "CAST(NULL AS BIGINT)"
    if "position" in one:
        column = one["position"]
        empty = (
            ident(column)
            if types[column] in _INTEGERS
            else f"nullif(trim({_text(column, types[column])}), '')"
        )
        problems.insert(0, f"CASE WHEN {empty} IS NULL THEN 'position: empty' END")
    for key, parse in (("modified_at", _epoch), ("collaborative", _bool)):
        if key in one:
            out[key], problem = parse(one[key], types[one[key]])
            problems.append(problem)
        else:
            out[key] = "CAST(NULL AS BIGINT)" if key == "modified_at" else "CAST(NULL AS BOOLEAN)"
    for key, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
        problems.append(
            f"CASE WHEN length({out[key]}) > {limit} THEN '{key}: ' || length({out[key]}) || "
            f"' characters, over the limit of {limit:,}' END"
        )
    outer = ["CASE WHEN key IS NULL THEN 'playlist: empty id' END"]
    if "tracks" not in one:  # (a list's empty items are dropped; an empty list loads nothing)
        outer.append("CASE WHEN track IS NULL THEN 'track: empty id' END")
    select = ", ".join(f"{expr} AS {name}" for name, expr in out.items())
    return select, "coalesce(" + ", ".join(problems) + ")", ", ".join(outer)


def read_rows(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    cols: dict[str, tuple[str, ...]],
    types: dict[str, str],
) -> int:
    """Set up the file's rows and list the invalid ones; returns how many are invalid.

    Leaves two views and a table: `_can`, one row per file row in the canonical columns with
    `_row` (the row's place in the file) and `_p` (the first problem of the row's own values);
    `_ent`, one row per playlist entry (`_row`, `_ord`: the order of appearance, `key`, `track`,
    `position` and the track's attributes; a wide row's list unnested); `_bad` (`_row`, `key`,
    `why`): the invalid rows. Only `_bad` is materialized: the checks that need the whole file
    (a position repeated, a playlist already stored) run later, on integer ids.
    """
    _TYPED_SOURCE[0] = source.format == "parquet"
    try:
        select, problem, outer = canonical_select(cols, types)
    finally:
        _TYPED_SOURCE[0] = False
    clear_rejects(con)
    for name in ("_ent", "_can"):
        con.execute(f"DROP VIEW IF EXISTS {name}").fetchall()
    for name in ("_bad", "_raw"):
        con.execute(f"DROP TABLE IF EXISTS {name}").fetchall()
    # `_row` must be the row's place in the file. Parquet says it (`file_row_number`); a text
    # file is read once, on one thread, where the insertion order (`rowid`) is the file's: with
    # several threads this DuckDB may reorder a projection's rows.
    if source.format == "parquet":
        reader = reader_sql(source).removesuffix(")") + ", file_row_number = true)"
        rows = f"(SELECT file_row_number + 1 AS _row, * FROM {reader})"
    else:
        threads = con.execute("SELECT current_setting('threads')").fetchone()
        con.execute("SET threads = 1").fetchall()
        try:
            con.execute(f"CREATE TEMP TABLE _raw AS SELECT * FROM {reader_sql(source)}").fetchall()
        finally:
            con.execute(f"SET threads = {int(threads[0]) if threads else 1}").fetchall()
        first = con.execute("SELECT coalesce(min(rowid), 0) FROM _raw").fetchone()
        rows = f"(SELECT rowid - {first[0] if first else 0} + 1 AS _row, * FROM _raw)"
    con.execute(
        f"CREATE TEMP VIEW _can AS SELECT * EXCLUDE (_p), coalesce({outer}, _p) AS _p "
        f"FROM (SELECT _row, {select}, {problem} AS _p FROM {rows})"
    ).fetchall()
    attrs = "artist, artist_name, album, album_name, track_name, duration_ms"
    if "tracks" in cols:
        con.execute(
            f"""CREATE TEMP VIEW _ent AS
            SELECT _row, _row * {1 << 20} + position AS _ord, key, track, position, {attrs}
            FROM (SELECT _row, key, unnest(tracks) AS track,
                         generate_subscripts(tracks, 1) - 1 AS position, {attrs}
                  FROM _can)"""
        ).fetchall()
    else:
        con.execute(
            f"CREATE TEMP VIEW _ent AS SELECT _row, _row AS _ord, key, track, position, {attrs} "
            "FROM _can"  # (not `WHERE _p IS NULL`: the checks would run again; see `_bad`)
        ).fetchall()
    con.execute(
        "CREATE TEMP TABLE _bad AS SELECT _row, key, _p AS why FROM _can WHERE _p IS NOT NULL"
    ).fetchall()
    row = con.execute("SELECT count(*) FROM _bad").fetchone()
    return int(row[0]) if row else 0


def drop_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what `read_rows` made."""
    for name in ("_ent", "_can"):
        con.execute(f"DROP VIEW IF EXISTS {name}").fetchall()
    for name in ("_bad", "_raw"):
        con.execute(f"DROP TABLE IF EXISTS {name}").fetchall()


def column_types(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, str]:
    """{column: DuckDB type} of the file, in the file's order (the reader's own sniffing)."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {reader_sql(source)}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def rejected_lines(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """(line, message) of each malformed CSV/TSV line the last read set aside."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_rejects' AND temporary"
    ).fetchone()
    if not exists or not exists[0]:
        return []  # not a CSV read (a failed query here would abort the caller's transaction)
    rows = con.execute(
        "SELECT line, arg_min(error_message, rowid) FROM _rejects GROUP BY line ORDER BY line"
    ).fetchall()
    return [(int(line), str(message)) for line, message in rows]


def clear_rejects(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("_rejects", "_rejects_scan"):
        con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
