"""Every CLI failure is one line on stderr and a documented exit code; never a traceback.

The cases come from issue 16: odd `--home` values, a read-only home, a damaged store, file-system
errors (permission, disk full, a folder given for a file), and bugs (the last-resort handler).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import simple_world

from spotifier.cli import failures
from spotifier.errors import ExitCode


def spotifier(
    *args: str, env: dict[str, str] | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command (a new process, as a user would) and capture its output."""
    command = [sys.executable, "-m", "spotifier", "--quiet", *args]
    if user == "nobody":
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "MPLCONFIGDIR": tempfile.gettempdir(),
            "COLUMNS": "400",  # tables and paths on one line, as the assertions read them
            **(env or {}),
        },
    )


def one_line(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """Assert the command failed with `code` and exactly one stderr line holding `fragments`."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    """An ingested home with a trained popularity model, in a folder any user can read."""
    root = Path(tempfile.mkdtemp(prefix="spotifier-failures-"))
    root.chmod(0o755)  # the read-only test reads it as another user
    simple_world(root / "mpd", n_slices=2)
    done = spotifier("--home", str(root / "home"), "ingest", str(root / "mpd"), "--workers", "1")
    assert done.returncode == 0, done.stderr
    done = spotifier("--home", str(root / "home"), "train", "popularity")
    assert done.returncode == 0, done.stderr
    yield root
    shutil.rmtree(root, ignore_errors=True)


def copy_home(world: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(world / "home", home)
    return home


# ---------------------------------------------------------------- the home folder
def test_an_empty_home_is_an_error_not_the_current_folder(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spotifier", "--home", "", "stats"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    one_line(done, ExitCode.BAD_INPUT, "--home", "empty")
    assert list(tmp_path.iterdir()) == []


def test_a_home_at_a_file_is_one_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("hello")
    one_line(spotifier("--home", str(file), "stats"), ExitCode.BAD_INPUT, str(file), "a file")
    inside = spotifier("--home", str(file / "sub"), "ingest", str(tmp_path))
    one_line(inside, ExitCode.BAD_INPUT, str(file), "a file")
    assert file.read_text() == "hello"


def _as_reader(home: Path) -> str | None:
    """Make `home` read-only for the user the commands run as (root ignores permissions)."""
    if os.geteuid() != 0:
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return None
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop write permission")
    for path in [home.parent, home, *home.rglob("*")]:  # readable, not writable, by nobody
        path.chmod(0o755 if path.is_dir() else 0o644)
    return "nobody"


def test_a_read_only_home_still_reads_and_refuses_writes_in_one_line(world: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="spotifier-ro-")) / "home"
    shutil.copytree(world / "home", home)
    shutil.rmtree(home / "matrices")  # the cache cannot be written: it is built in memory
    try:
        user = _as_reader(home)
        stats = spotifier("--home", str(home), "stats", "--json", user=user)
        assert stats.returncode == 0, stats.stderr
        rec = spotifier("--home", str(home), "recommend", "-m", "popularity", "-k", "3", user=user)
        assert rec.returncode == 0, rec.stderr
        train = spotifier("--home", str(home), "train", "popularity", user=user)
        one_line(train, ExitCode.FILESYSTEM, str(home), "read-only", "--home")
        for writer in (["ingest", str(world / "mpd")], ["split"], ["evaluate", "popularity"]):
            done = spotifier("--home", str(home), *writer, user=user)
            one_line(done, ExitCode.FILESYSTEM, str(home), "read-only", "--home")
    finally:
        for path in [home, *home.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(home.parent, ignore_errors=True)


# ---------------------------------------------------------------- a damaged store
def _truncate(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size // 3)


def _flip_bits(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for at in range(8192 + 100, len(data), 4099):  # past the headers, a bit in many blocks
        data[at] ^= 0x10
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(
    "damage", [_truncate, _flip_bits, _empty, _a_folder], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("command", [["stats", "--json"], ["recommend", "-m", "popularity"]])
def test_a_damaged_store_says_ingest_again(
    world: Path, tmp_path: Path, damage, command: list[str]
) -> None:
    home = copy_home(world, tmp_path)
    shutil.rmtree(home / "matrices")  # force reading the store itself
    damage(home / "store.duckdb")
    done = spotifier("--home", str(home), *command)
    one_line(done, ExitCode.DAMAGED, str(home / "store.duckdb"), "ingest again into a new home")


def test_a_duckdb_file_without_the_store_tables_is_not_a_store(tmp_path: Path) -> None:
    import duckdb

    home = tmp_path / "home"
    home.mkdir()
    duckdb.connect(str(home / "store.duckdb")).close()  # a valid database, but empty
    done = spotifier("--home", str(home), "stats")
    one_line(done, ExitCode.DAMAGED, str(home / "store.duckdb"), "ingest again")


# ---------------------------------------------------------------- file-system errors and bugs
RAISE_IN_STATS = """
import errno, sys
import spotifier.store as store
def broken(home):
    raise {error}
store.compute_stats = broken
from spotifier.cli import main
sys.argv = ["spotifier", "--home", sys.argv[1], "stats"]
main()
"""


def _run_raising(error: str, home: Path, debug: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPOTIFIER_DEBUG": "1" if debug else ""}
    return subprocess.run(
        [sys.executable, "-c", RAISE_IN_STATS.format(error=error), str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_disk_full_is_one_line_naming_the_file(tmp_path: Path) -> None:
    done = _run_raising(
        'OSError(errno.ENOSPC, "No space left on device", "/data/out.npz")', tmp_path
    )
    one_line(done, ExitCode.FILESYSTEM, "/data/out.npz", "no space left", "free some space")


def test_a_bug_is_one_internal_error_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = _run_raising('KeyError("boom")', tmp_path)
    line = one_line(done, ExitCode.INTERNAL, "internal error", "KeyError", "SPOTIFIER_DEBUG=1")
    assert line.startswith("internal error")
    debug = _run_raising('KeyError("boom")', tmp_path, debug=True)
    assert debug.returncode == ExitCode.INTERNAL
    assert "Traceback" in debug.stderr and "def broken" not in debug.stdout
    assert debug.stderr.strip().splitlines()[-1].startswith("internal error")


def test_an_error_message_is_printed_literally_not_as_markup(tmp_path: Path) -> None:
    odd = tmp_path / "[bold]odd[red] ünï"
    odd.write_text("x")
    done = spotifier("--home", str(odd), "stats")
    one_line(done, ExitCode.BAD_INPUT, str(odd))


def test_a_closed_stdout_is_not_a_traceback(world: Path, tmp_path: Path) -> None:
    home = copy_home(world, tmp_path)
    command = [sys.executable, "-m", "spotifier", "--home", str(home), "stats", "--json"]
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # like `| head -c0`: the reader goes away before the output
    code = reader.wait(timeout=60)
    err = reader.stderr.read().decode()
    reader.stderr.close()
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (ExitCode.OK, ExitCode.FAILED)


@pytest.mark.parametrize(
    ("error", "fragment", "code"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/x/y"), "/x/y: permission", 7),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/x/out"), "is a folder", 7),
        (FileNotFoundError(errno.ENOENT, "No such file", "/x/in"), "does not exist", 3),
        (OSError(errno.EROFS, "Read-only file system", "/x/z"), "read-only", 7),
        (MemoryError(), "out of memory", 1),
    ],
)
def test_describe_maps_each_os_error(error: BaseException, fragment: str, code: int) -> None:
    line, exit_code = failures.describe(error, Path("/elsewhere"))
    assert fragment in line and exit_code == code
    assert "\n" not in line


# ---------------------------------------------------------------- the CLI and the API agree
@pytest.mark.parametrize("k", ["0", "-5", "501", "100000"])
def test_recommend_k_is_1_to_500_checked_before_any_work(
    world: Path, tmp_path: Path, k: str
) -> None:
    home = copy_home(world, tmp_path)
    done = spotifier("--home", str(home), "recommend", "-m", "item-knn", "--name", "x", "-k", k)
    one_line(done, ExitCode.BAD_INPUT, "k must be between 1 and 500", k)
    assert not (home / "models" / "item-knn").exists()  # nothing trained on demand
    assert not (home / "models" / "title").exists()


def test_cli_and_api_agree_on_tracks_newer_than_the_model(tmp_path: Path) -> None:
    """A track ingested after the model was trained is an unknown track in both, not a seed."""
    from mpd_fixtures import playlist, write_slice
    from typer.testing import CliRunner

    from spotifier.cli import app
    from spotifier.home import Home
    from spotifier.serve.service import Service

    simple_world(tmp_path / "mpd", n_slices=1)
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["--home", str(home), "ingest", str(tmp_path / "mpd")]).exit_code == 0
    assert runner.invoke(app, ["--home", str(home), "train", "popularity"]).exit_code == 0
    new = [500 + i for i in range(5)]  # track numbers the first slice never used
    write_slice(tmp_path / "mpd2", [playlist(5000, new)], first=5000)
    assert (
        runner.invoke(app, ["--home", str(home), "ingest", str(tmp_path / "mpd2")]).exit_code == 0
    )
    from mpd_fixtures import uri

    fresh, old = uri("track", 500), uri("track", 1)
    args = ["--home", str(home), "recommend", "-m", "popularity", "-k", "5", "--json"]
    cli = runner.invoke(app, [*args, "--track", fresh, "--track", old])
    assert cli.exit_code == 0, cli.output
    import json

    out = json.loads(cli.stdout)
    api = Service.from_home(Home.resolve(home), ["popularity"]).continuation([fresh, old], k=5)
    assert out["unknown_tracks"] == api["unknown_tracks"] == [fresh]
    assert out["seeds"] == 1
    assert [row["uri"] for row in out["tracks"]] == [item["uri"] for item in api["items"]]


# ---------------------------------------------------------------- outputs checked before work
def _challenge_set(path: Path) -> Path:
    import json

    from mpd_fixtures import track

    playlists = [
        {"name": "chill", "pid": 9_000_000 + i, "num_holdouts": 5, "num_samples": 1,
         "num_tracks": 6, "tracks": [{**track(1), "pos": 0}]}
        for i in range(3)
    ]  # fmt: skip
    path.write_text(json.dumps({"date": "2018-01-16", "version": "v1", "playlists": playlists}))
    return path


@pytest.mark.parametrize("where", ["folder", "inside_a_file"])
def test_challenge_out_is_checked_before_any_recommendation(
    world: Path, tmp_path: Path, where: str
) -> None:
    home = copy_home(world, tmp_path)
    challenge = _challenge_set(tmp_path / "challenge_set.json")
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / "a_folder" if where == "folder" else tmp_path / "a_file" / "sub.csv"
    if where == "folder":
        out.mkdir()
    done = spotifier("--home", str(home), "challenge", str(challenge), "--model", "item-knn",
                     "--out", str(out))  # fmt: skip
    one_line(done, ExitCode.BAD_INPUT, "--out", str(out))
    assert not (home / "models" / "item-knn").exists()  # the model was never trained on demand


def test_challenge_out_in_an_unwritable_folder_fails_first(world: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="spotifier-out-"))
    try:
        home = root / "home"
        shutil.copytree(world / "home", home)
        challenge = _challenge_set(root / "challenge_set.json")
        locked = root / "locked"
        locked.mkdir()
        user = _as_reader(locked)
        if user is not None:  # as root: the home must stay writable for nobody to train in it
            for path in [root, home, *home.rglob("*")]:
                path.chmod(0o777 if path.is_dir() else 0o666)
        done = spotifier("--home", str(home), "challenge", str(challenge), "--model", "item-knn",
                         "--out", str(locked / "sub.csv"), user=user)  # fmt: skip
        one_line(done, ExitCode.FILESYSTEM, "--out", str(locked / "sub.csv"), "cannot write")
        assert not (home / "models" / "item-knn").exists()
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_report_out_at_a_file_fails_before_drawing(world: Path, tmp_path: Path) -> None:
    home = copy_home(world, tmp_path)
    file = tmp_path / "report.html"
    file.write_text("mine")
    done = spotifier("--home", str(home), "report", "--out", str(file))
    one_line(done, ExitCode.BAD_INPUT, "--out", str(file), "is a file")
    assert file.read_text() == "mine"


def test_generate_into_a_file_is_one_line(tmp_path: Path) -> None:
    file = tmp_path / "world"
    file.write_text("mine")
    done = spotifier("generate", str(file), "--playlists", "10")
    one_line(done, ExitCode.BAD_INPUT, str(file))
    assert file.read_text() == "mine"


# ---------------------------------------------------------------- odd strings and odd paths
def test_brackets_in_data_and_paths_print_literally(tmp_path: Path) -> None:
    """Rich reads "[/]" as markup: a title, track name or folder holding it must not crash."""
    from mpd_fixtures import playlist, track, write_slice

    odd = [{**track(n), "track_name": f"Song [/] [red]{n}"} for n in range(1, 8)]
    lists = [playlist(i, odd[i % 2 :][:6], name="[/x] mix") for i in range(4)]
    write_slice(tmp_path / "mpd", lists)
    home = tmp_path / "home [/x]"
    assert spotifier("--home", str(home), "ingest", str(tmp_path / "mpd")).returncode == 0
    stats = spotifier("--home", str(home), "stats")
    assert stats.returncode == 0, stats.stderr
    assert "[ x] mix" in stats.stdout and "Song [/] [red]" in stats.stdout  # titles normalized
    train = spotifier("--home", str(home), "train", "popularity")
    assert train.returncode == 0, train.stderr
    assert "[/x]" in train.stdout
    rec = spotifier("--home", str(home), "recommend", "-m", "popularity", "-k", "3",
                    "--name", "[/] title", "--track", "[/]bad")  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    assert "Song [/] [red]" in rec.stdout and "[/]bad" in rec.stderr


def test_a_symlink_loop_as_home_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    one_line(spotifier("--home", str(tmp_path / "a"), "stats"), ExitCode.BAD_INPUT, "loop")


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    one_line(
        spotifier("followers", "--playlists", "x"), ExitCode.BAD_INPUT, "--playlists", "--help"
    )
    one_line(spotifier("no-such-command"), ExitCode.BAD_INPUT, "no-such-command")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["followers", "--playlists", "-1"], "--playlists"),
        (["followers", "--folds", "1"], "--folds"),
        (["tune", "item-knn", "--playlists", "-5"], "--playlists"),
        (["tune", "no-such-model"], "unknown model"),
        (["evaluate", "popularity", "no-such-model"], "unknown model"),
        (["split", "--seed", "-1"], "--seed"),
        (["tune", "item-knn", "--seed", "-1"], "--seed"),
        (["demo", "--seed", "-1"], "--seed"),
    ],
)
def test_arguments_are_checked_before_any_work(
    world: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    home = copy_home(world, tmp_path)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    done = spotifier("--home", str(home), *args)
    assert done.returncode in (ExitCode.BAD_INPUT, ExitCode.NOT_FOUND)
    one_line(done, done.returncode, fragment)
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before  # no split, no result


# ---------------------------------------------------------------- interrupted writes
KILLED_WHILE_WRITING = """
import os, signal, sys, time
from pathlib import Path
import spotifier.store as store
from spotifier.home import atomic_dir, atomic_file

def writing(home):
    out = Path(sys.argv[2])
    with atomic_dir(out / "folder") as tmp, atomic_file(out / "file.bin") as fh:
        (tmp / "part.npz").write_bytes(b"half")
        fh.write(b"half")
        os.kill(os.getpid(), signal.SIGTERM)  # `kill` while both are half-written
        time.sleep(30)
    return {}

store.compute_stats = writing
from spotifier.cli import main
sys.argv = ["spotifier", "--home", sys.argv[1], "stats", "--json"]
main()
"""


def test_kill_during_a_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_WRITING, str(tmp_path / "home"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    one_line(done, ExitCode.TERMINATED, "terminated")
    assert list(out.iterdir()) == []  # neither the targets nor their .NAME.XXXX temporaries


# ---------------------------------------------------------------- a damaged split
@pytest.mark.parametrize(
    ("meta", "cases"),
    [
        (b"{not json", b""),
        (b"\xff\xfe", b""),
        (b"[1, 2]", b""),
        (b'{"protocol": "x"}', b"PK\x03junk"),
    ],
    ids=["garbled-meta", "not-utf8-meta", "meta-not-an-object", "truncated-cases"],
)
def test_a_damaged_split_says_build_it_again(
    world: Path, tmp_path: Path, meta: bytes, cases: bytes
) -> None:
    home = copy_home(world, tmp_path)
    folder = home / "splits" / "default"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_bytes(meta)
    if cases:
        (folder / "cases.npz").write_bytes(cases)
    done = spotifier("--home", str(home), "score", str(tmp_path / "sub.csv"), "--split", "default")
    one_line(done, ExitCode.DAMAGED, str(folder), "damaged", "spotifier split --name default")


def test_a_folder_given_as_the_challenge_file_is_one_line(world: Path, tmp_path: Path) -> None:
    done = spotifier("verify", str(tmp_path), str(tmp_path / "sub.csv"))
    one_line(done, ExitCode.BAD_INPUT, str(tmp_path), "is a folder")


def test_challenge_out_never_overwrites_the_challenge_set(world: Path, tmp_path: Path) -> None:
    home = copy_home(world, tmp_path)
    challenge = _challenge_set(tmp_path / "challenge_set.json")
    before = challenge.read_bytes()
    done = spotifier("--home", str(home), "challenge", str(challenge), "--model", "popularity",
                     "--out", str(tmp_path / "." / "challenge_set.json"))  # fmt: skip
    one_line(done, ExitCode.BAD_INPUT, "--out", "the challenge set itself")
    assert challenge.read_bytes() == before


def test_arguments_and_homes_that_are_not_utf8_are_one_line(world: Path, tmp_path: Path) -> None:
    """Bytes that are not UTF-8 arrive as surrogates: DuckDB and JSON output cannot hold them."""
    home = copy_home(world, tmp_path)
    bad = os.fsdecode(b"spotify:track:\xff")
    done = spotifier("--home", str(home), "recommend", "-m", "popularity", "--track", bad, "--json")
    one_line(done, ExitCode.BAD_INPUT, "--track", "UTF-8")
    odd_home = Path(os.fsdecode(bytes(tmp_path) + b"/h\xff"))
    shutil.copytree(home, odd_home)
    done = spotifier("--home", str(odd_home), "stats")
    one_line(done, ExitCode.BAD_INPUT, "UTF-8", "rename")


def test_main_leaves_the_sigterm_handler_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() may run inside another program; its SIGTERM handler must not outlive it."""
    import signal

    from spotifier.cli import main

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(sys, "argv", ["spotifier", "--home", "", "stats"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == ExitCode.BAD_INPUT
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_port_in_use_says_choose_another() -> None:
    line, code = failures.describe(OSError(errno.EADDRINUSE, "Address already in use"))
    assert "--port" in line and code == ExitCode.FILESYSTEM


def test_an_interrupt_between_the_renames_keeps_the_previous_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`atomic_dir` moves the old folder aside, then the new one in: a Ctrl-C or `kill` between
    the two renames must not leave the target missing."""
    from spotifier.home import atomic_dir

    target = tmp_path / "model"
    target.mkdir()
    (target / "arrays.npz").write_bytes(b"previous")
    rename = Path.rename

    def interrupted(self: Path, to: Path) -> Path:
        if self.name.startswith(".model.") and not self.name.endswith(".old") and to == target:
            raise KeyboardInterrupt
        return rename(self, to)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt), atomic_dir(target) as tmp:
        (tmp / "arrays.npz").write_bytes(b"new")
    assert (target / "arrays.npz").read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_no_arguments_prints_the_help_and_no_error_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spotifier"], capture_output=True, text=True, timeout=60
    )
    assert "Usage" in done.stdout and "error" not in done.stderr
    assert done.returncode in (ExitCode.OK, ExitCode.BAD_INPUT)  # click's choice: 2


def test_a_truncated_cache_is_built_again(world: Path, tmp_path: Path) -> None:
    home = copy_home(world, tmp_path)
    (cache,) = (home / "matrices").glob("catalog-*.npz")  # what `recommend` reads
    cache.write_bytes(cache.read_bytes()[:100])
    done = spotifier("--home", str(home), "recommend", "-m", "popularity", "-k", "2", "--json")
    assert done.returncode == 0, done.stderr
    import zipfile

    assert zipfile.is_zipfile(cache)


@pytest.mark.parametrize("where", ["a_file", "inside_a_file", "not_utf8"])
def test_export_out_is_checked_first(world: Path, tmp_path: Path, where: str) -> None:
    home = copy_home(world, tmp_path)
    (tmp_path / "a_file").write_text("mine")
    out = {
        "a_file": tmp_path / "a_file",
        "inside_a_file": tmp_path / "a_file" / "export",
        "not_utf8": Path(os.fsdecode(bytes(tmp_path) + b"/ex\xff")),
    }[where]
    done = spotifier("--home", str(home), "export", str(out))
    one_line(done, ExitCode.BAD_INPUT, "OUT")
    assert (tmp_path / "a_file").read_text() == "mine"


@pytest.mark.parametrize("name", ["", "..", "../../outside", "a/b", ".hidden", "x" * 101])
def test_split_names_cannot_leave_or_replace_the_splits_folder(
    world: Path, tmp_path: Path, name: str
) -> None:
    """`--split ""` named `splits/` itself (a new split would replace every split), and
    `../x` a folder outside the home."""
    home = copy_home(world, tmp_path)
    (home / "splits" / "kept").mkdir(parents=True)
    for args in (["split", "--name", name], ["train", "popularity", "--split", name]):
        done = spotifier("--home", str(home), *args)
        one_line(done, ExitCode.BAD_INPUT, "split name")
    assert [p.name for p in (home / "splits").iterdir()] == ["kept"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
