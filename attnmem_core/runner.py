"""Execute the replication notebooks with papermill into the book's build tree.

    python -m attnmem_core.runner --profile cpu          # what `make book` runs
    python -m attnmem_core.runner --scheduler tcp://head-node:8786   # the trainings on a Dask cluster

A notebook is executed again only when something that could change its output changed:
its code cells, the parameters it gets, the core library's source, or the pinned data
sources, or when something it wrote is gone or changed. The key of all four is stored
beside the executed notebook once the run succeeds, with the sha256 of the executed copy
and of every file the run wrote under its `results_dir` (its results JSON, figures,
trained models); a matching key with all those files intact means the last run still
stands and the notebook is skipped. An edit of the prose alone (markdown cells, a figure
caption in a cell's metadata) keeps the key: the new cells are spliced around the outputs
of the last run, "re-rendered", in seconds, with no training. Two runners on one folder do
not collide: each executes into a scratch file of its own, and an executed copy that
another runner replaced no longer matches the key beside it.

Each chapter shows its progress (cells done of all) while it runs and its wall time when
done. Paths under the repository are given to the notebooks, and kept in the executed
copies, relative to the repository, so a downloaded notebook does not carry the builder's
home. After the chapters, the pages built from their results are written beside them
(`attnmem_core.book`: the claims ledger, the closing chapter, the reproduce page).

A failing notebook stops the run: the failing cell and its traceback go to the console,
no executed copy or key is written, and the exit status is non-zero.

In the executed copy the parameter cells are hidden (the book shows the values through
each chapter's run card instead) and stream output is coalesced, so a progress bar
leaves one line rather than one per refresh.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm

from attnmem_core.atomic import atomic_write
from attnmem_core.book import write_pages
from attnmem_core.config import SCHEDULER_ENV, check_device, check_profile, check_scheduler
from attnmem_core.parallel import check_workers, connect

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "replications"
EXECUTED = REPO / "book" / "executed"
CORE = REPO / "attnmem_core"
SOURCES = REPO / "data" / "sources.json"
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")
NOT_RUN_BY_NOTEBOOKS = ("runner.py", "book")  # the runner and the book's pages: changing them changes no number
DOWNLOADABLE = (".json", ".png", ".svg", ".csv")


class NotebookFailed(RuntimeError):
    pass


def library_digest(core: Path = CORE) -> str:
    """sha256 over every .py file of the core library that a notebook runs, names included."""
    digest = hashlib.sha256()
    for source in sorted(core.rglob("*.py")):
        relative = source.relative_to(core)
        if relative.parts[0] not in NOT_RUN_BY_NOTEBOOKS:
            digest.update(str(relative).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


def content_key(notebook: Path, params: dict, core: Path = CORE, sources: Path = SOURCES) -> str:
    """sha256 over what can change a run's numbers: the code cells (not the prose), the parameters, the library's
    source and the data pins."""
    digest = hashlib.sha256()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            digest.update(json.dumps([cell.source, "parameters" in cell.metadata.get("tags", [])]).encode())
    digest.update(json.dumps(params, sort_keys=True).encode())
    digest.update(sources.read_bytes() if sources.exists() else b"")
    digest.update(library_digest(core).encode())
    return digest.hexdigest()


def hide_parameter_cells(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")


def portable(path: Path, root: Path = REPO) -> str:
    """`path` relative to `root` when it lies inside it (what a notebook and its results record), else absolute."""
    path = Path(os.path.abspath(path))  # links kept: data/cache may link to a shared cache elsewhere
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path | None) -> dict[Path, tuple[int, int]]:
    """(modification time, size) of every file under `folder`, scratch files (named .*) left out."""
    if folder is None or not folder.is_dir():
        return {}
    return {
        path: (path.stat().st_mtime_ns, path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


def _standing(stamp: Path, key: str) -> dict | None:
    """The stamp's record if it holds `key` and every file it lists is there with the sha256 it lists."""
    try:
        record = json.loads(stamp.read_text())
        intact = all(Path(path).is_file() and _sha256(Path(path)) == digest for path, digest in record["files"].items())
        return record if record["key"] == key and intact else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # none yet, or one in an older format
        return None


def _downloads(stem: str, wrote: list[Path], out_dir: Path) -> tuple[nbformat.NotebookNode, list[Path]]:
    """A closing markdown cell linking copies of the results JSON and figures the run wrote, and the copies."""
    folder = out_dir / "downloads" / stem
    copies = []
    for path in sorted(wrote):  # each copy whole or not at all: a runner of another profile may share the folder
        with atomic_write(folder / path.name) as f:
            f.write(path.read_bytes())
        copies.append(folder / path.name)
    links = "\n".join(f"- {{download}}`{copy.name} <downloads/{stem}/{copy.name}>`" for copy in copies)
    text = "## Downloads\n\nThe results file (metrics, claims with verdicts, provenance) and figures of this run:\n\n"
    return nbformat.v4.new_markdown_cell(text + (links or "- none: this run wrote no results file")), copies


def _publish(nb: nbformat.NotebookNode, notebook: Path, out_dir: Path, wrote: list[Path], key: str, cwd: Path) -> None:
    """Write the executed copy (parameter cells hidden, repository paths relative, downloads cell last) and its
    stamp, which lists it, the files the run wrote and their copies."""
    hide_parameter_cells(nb)
    downloads, copies = _downloads(notebook.stem, [p for p in wrote if p.suffix in DOWNLOADABLE], out_dir)
    nb.cells.append(downloads)
    text = nbformat.writes(nb).replace(os.path.abspath(cwd) + "/", "")
    executed = out_dir / notebook.name
    with atomic_write(executed, "w") as f:
        f.write(text)
    files = {str(path.resolve()): _sha256(path) for path in [executed, *wrote, *copies]}
    with atomic_write(out_dir / f"{notebook.stem}.key", "w") as f:
        json.dump({"key": key, "notebook": _sha256(notebook), "files": files}, f, indent=1)


def _spliced(source: Path, executed: Path) -> nbformat.NotebookNode:
    """The source notebook's cells, its code cells carrying the outputs of the executed copy's (the code is the same:
    the key says so), with the injected parameters after the parameter cell."""
    ran = nbformat.read(executed, as_version=4)
    nb = nbformat.read(source, as_version=4)
    injected = [c for c in ran.cells if "injected-parameters" in c.metadata.get("tags", [])]
    outputs = iter(c for c in ran.cells if c.cell_type == "code" and c not in injected)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            old = next(outputs)
            cell.outputs, cell.execution_count = old.outputs, old.execution_count
            cell.metadata = nbformat.from_dict({**old.metadata, **cell.metadata})
        cells.append(cell)
        if "parameters" in cell.metadata.get("tags", []):
            cells.extend(injected)
    nb.cells, nb.metadata = cells, ran.metadata
    return nb


def run_notebook(
    notebook: Path,
    out_dir: Path,
    params: dict,
    *,
    force: bool = False,
    core: Path = CORE,
    cwd: Path = REPO,
    progress: bool = False,
) -> str:
    """Execute one notebook unless its key is unchanged and its outputs intact, or only re-render its prose; return
    'executed', 're-rendered' or 'cached'."""
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, stamp = out_dir / notebook.name, out_dir / f"{notebook.stem}.key"
    key = content_key(notebook, params, core)
    record = None if force else _standing(stamp, key)
    if record is not None:
        if record.get("notebook") == _sha256(notebook):
            return "cached"
        copies = (out_dir / "downloads").resolve()
        wrote = [
            Path(p) for p in record["files"] if Path(p) != executed.resolve() and not Path(p).is_relative_to(copies)
        ]
        _publish(_spliced(notebook, executed), notebook, out_dir, wrote, key, cwd)
        return "re-rendered"
    stamp.unlink(missing_ok=True)
    results = Path(cwd) / params["results_dir"] if "results_dir" in params else None
    before = _files(results)
    handle, name = tempfile.mkstemp(dir=out_dir, prefix=f".{notebook.stem}.", suffix=".running.ipynb")
    os.close(handle)
    running = Path(name)
    try:
        pm.execute_notebook(
            notebook,
            running,
            parameters=params,
            cwd=str(cwd),
            kernel_name="python3",
            progress_bar={"desc": f"  {notebook.stem}", "leave": False} if progress else False,
            coalesce_streams=True,
        )
        wrote = [path for path, state in _files(results).items() if before.get(path) != state]
        _publish(nbformat.read(running, as_version=4), notebook, out_dir, wrote, key, cwd)
    except BaseException as error:
        if isinstance(error, pm.PapermillExecutionError):
            raise NotebookFailed(_describe_failure(notebook, error)) from None
        raise
    finally:
        running.unlink(missing_ok=True)
    return "executed"


def _describe_failure(notebook: Path, error: pm.PapermillExecutionError) -> str:
    rule = "-" * 78
    return (
        f"{notebook.name} failed in cell {error.cell_index} (execution count {error.exec_count}):\n"
        f"{rule}\n{error.source}\n{rule}\n" + "\n".join(error.traceback) + f"\n{error.ename}: {error.evalue}"
    )


def _minutes(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def chosen(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """The notebooks whose names start with one of `only` (all when None); an `only` that matches none is an error
    that lists the chapters."""
    if only is None:
        return notebooks
    picked = [nb for nb in notebooks if any(nb.name.startswith(o) for o in only)]
    if not picked:
        names = ", ".join(nb.stem for nb in notebooks)
        raise ValueError(f"--only {' '.join(only)} matches no notebook; the chapters are: {names}")
    return picked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", default=None, help="e.g. '0,1,2'; the profile's own seeds when left out")
    parser.add_argument("--only", nargs="+", help="notebook names or prefixes, e.g. 06")
    parser.add_argument("--out", type=Path, default=EXECUTED)
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "cache")
    parser.add_argument("--results-dir", type=Path, default=REPO / "results")
    parser.add_argument("--force", action="store_true", help="execute even when nothing changed")
    parser.add_argument(
        "--scheduler",
        default=os.environ.get(SCHEDULER_ENV),
        help=f"a Dask scheduler's address for the trainings (${SCHEDULER_ENV}, else a local cluster)",
    )
    args = parser.parse_args(argv)
    all_notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    try:
        check_profile(args.profile)
        check_device(args.device)
        scheduler = check_scheduler(args.scheduler)
        if scheduler:  # reached and its workers checked before any notebook; the notebooks find it in the environment
            with connect(scheduler) as client:
                check_workers(client)
            os.environ[SCHEDULER_ENV] = scheduler
        notebooks = chosen(all_notebooks, args.only)
    except (ValueError, ConnectionError, RuntimeError) as error:
        parser.error(str(error))
    params = {
        "profile": args.profile,
        "device": args.device,
        "data_dir": portable(args.data_dir),
        "results_dir": portable(args.results_dir),
    }
    if args.seeds is not None:
        params["seeds"] = args.seeds
    for i, notebook in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {notebook.stem} ({args.profile}) ...", flush=True)
        started = time.perf_counter()
        try:
            status = run_notebook(notebook, args.out, params, force=args.force, progress=True)
        except NotebookFailed as failure:
            print(f"[{i}/{len(notebooks)}] {notebook.stem} FAILED after {_minutes(time.perf_counter() - started)}")
            print(failure, file=sys.stderr)
            return 1
        print(f"[{i}/{len(notebooks)}] {notebook.stem} {status} in {_minutes(time.perf_counter() - started)}")
    for page in write_pages(args.out, args.results_dir, args.profile, all_notebooks):
        print(f"page: {portable(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
