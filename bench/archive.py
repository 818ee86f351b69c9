"""Benchmark: archiving a prearchive session, next to a plain file copy and a bare pydicom read + write
of the same files, measured in the same run.

Run with ``.venv/bin/python bench/archive.py [--mr 500] [--ct 300]``. For a generated MR study
(256x256) and CT study (512x512) it ingests two prearchive sessions through the one ingest path (site
script included), builds them, then times:

* copy        shutil.copyfile of each prearchive file (best of three passes);
* read+write  pydicom.dcmread + save_as of each prearchive file (best of three passes);
* archive     the archive service with the default project script: every file read, scripted, given
              its final labels and written beside the archive, catalogs, rows, commit, rename;
* no script   the archive service with the project script turned off and headers that already hold
              the final labels: no file is rewritten (hard links), only rows, catalogs and renames.

Goals (README "Archiving"): archive <= 1.5 x read+write; no script >= 10 x faster than read+write.
Previews are a separate Celery task after the commit; their time is shown apart.
"""

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(tmp: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="xnatlite.settings",
        SECRET_KEY="bench",
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        XNATLITE_DATA_ROOT=str(tmp / "data"),
        XNATLITE_LOG_LEVEL="WARNING",
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def generator():
    """The realistic MR/CT header generator of bench/anonymize_site_script.py."""
    spec = importlib.util.spec_from_file_location("bench_anon", ROOT / "bench" / "anonymize_site_script.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def best_of(paths: list[Path], out: Path, step, passes: int = 3) -> float:
    best = float("inf")
    for attempt in range(passes):
        folder = out / f"pass{attempt}"
        folder.mkdir(parents=True)
        start = time.perf_counter()
        for path in paths:
            step(path, folder / path.name)
        best = min(best, time.perf_counter() - start)
        shutil.rmtree(folder)
    return best


def bare(src: Path, dst: Path) -> None:
    import pydicom

    pydicom.dcmread(src).save_as(dst, enforce_file_format=False)


def ingest(paths: list[Path], *, subject: str, session: str, user):
    from prearchive.builder import BuildReport, build_session
    from prearchive.ingest import IngestContext, ingest_file
    from prearchive.models import Status, change_status

    context = IngestContext(source="bench", project="BENCH", subject=subject, session=session, user=user)
    row = None
    for path in paths:
        row = ingest_file(path, context).session or row
    row.refresh_from_db()
    change_status(row, Status.BUILDING)
    build_session(row, BuildReport())
    row.refresh_from_db()
    assert row.status == Status.READY, row.status_reason
    return row


def clone(session, n: int):
    """Another READY prearchive session with copies of the same files (a fresh folder and rows)."""
    from prearchive.models import PrearchiveFile, PrearchiveSession
    from xnatlite import layout

    files = list(PrearchiveFile.objects.filter(session=session))
    copy = PrearchiveSession.objects.get(pk=session.pk)
    copy.pk, copy.timestamp = None, f"20240101_000000{n:03d}"
    copy.save()
    shutil.copytree(session.folder, copy.folder)
    old, new = layout.relative_path(session.folder), layout.relative_path(copy.folder)
    for file in files:
        file.pk, file.session, file.path = None, copy, file.path.replace(old, new, 1)
    PrearchiveFile.objects.bulk_create(files)
    return copy


def archive_seconds(session, label: str, keep: bool = False) -> float:
    """Wall time of one archive; the archived session is deleted again (unless `keep`) so the next pass
    can reuse its label."""
    from archive.services.sessions import delete_session
    from prearchive import handoff
    from xnatlite import permissions

    bench = permissions.command_actor("bench")
    start = time.perf_counter()
    outcome = handoff.archive_session(session, by=bench, label=label)
    seconds = time.perf_counter() - start
    assert outcome.status == "archived", outcome
    archive_seconds.last = outcome
    if not keep:
        delete_session(outcome.session, by=bench)
    return seconds


def run(name: str, modality: str, count: int, rows: int, tmp: Path, user, project, passes: int = 3) -> dict:
    import pydicom

    from anonymize import services as anonymize_services
    from archive import previews, tasks

    generate = generator()
    scripted_src = generate(tmp / f"{name}-src-a", modality, count, rows)
    plain_src = generate(tmp / f"{name}-src-b", modality, count, rows)
    plain_label = f"S001_{name}_B"
    for path in plain_src:  # headers that already hold the final labels of session B
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.PatientID = "S001", plain_label
        ds.save_as(path, enforce_file_format=True)
    session_a = ingest(scripted_src, subject="S001", session=f"S001_{name}_A", user=user)
    session_b = ingest(plain_src, subject="S001", session=plain_label, user=user)
    scripted = [session_a] + [clone(session_a, 10 * ord(name[0]) % 500 + n) for n in range(1, passes)]
    plain = [session_b] + [clone(session_b, 10 * ord(name[0]) % 500 + 100 + n) for n in range(1, passes)]
    files = [f.absolute_path for f in scripted[-1].files.all()]  # archived last, after the last baseline
    size = sum(p.stat().st_size for p in files)
    tasks.make_previews.delay = lambda session_id: None  # a separate task: timed apart below

    best = {"copy": float("inf"), "rw": float("inf"), "archive": float("inf"), "plain": float("inf")}
    text = anonymize_services.get_project_script(project).text
    for attempt in range(passes):  # interleaved, best of each: load on the machine hits all alike
        best["copy"] = min(best["copy"], best_of(files, tmp / f"{name}-copy", shutil.copyfile, passes=1))
        best["rw"] = min(best["rw"], best_of(files, tmp / f"{name}-rw", bare, passes=1))
        anonymize_services.save_project_script(project, text, enabled=True, by=user)
        last = attempt == passes - 1
        best["archive"] = min(
            best["archive"], archive_seconds(scripted[attempt], f"S001_{name}_A", keep=last)
        )
        anonymize_services.save_project_script(project, 'version "6.3"\n', enabled=False, by=user)
        best["plain"] = min(best["plain"], archive_seconds(plain[attempt], plain_label))
        assert archive_seconds.last.linked == count, archive_seconds.last

    anonymize_services.save_project_script(project, text, enabled=True, by=user)
    from archive.models import ImageSession

    archived = ImageSession.objects.get(project=project, label=f"S001_{name}_A")
    start = time.perf_counter()
    previews.make_session_previews(archived.pk)
    previews_s = time.perf_counter() - start
    return {"study": name, "n": count, "MB": size / 1e6, "previews": previews_s, **best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mr", type=int, default=500, help="MR instances (256x256)")
    parser.add_argument("--ct", type=int, default=300, help="CT instances (512x512)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xnatlite-bench-archive-") as name:
        tmp = Path(name)
        setup_django(tmp)
        from django.contrib.auth import get_user_model

        from xnatlite import permissions, projects

        user = get_user_model().objects.create_user("bench", password="bench-password-1")
        project = projects.create_project("BENCH", by=permissions.command_actor("bench"), owner=user)
        results = [
            run("MR", "MR", args.mr, 256, tmp, user, project),
            run("CT", "CT", args.ct, 512, tmp, user, project),
        ]
    print(
        f"{'study':5} {'n':>4} {'MB':>6} {'copy s':>7} {'r+w s':>7} {'archive s':>9} {'ratio':>6} "
        f"{'no-script s':>11} {'r+w/no-script':>13} {'previews s':>10}"
    )
    for r in results:
        print(
            f"{r['study']:5} {r['n']:>4} {r['MB']:>6.0f} {r['copy']:>7.2f} {r['rw']:>7.2f} {r['archive']:>9.2f} "
            f"{r['archive'] / r['rw']:>6.2f} {r['plain']:>11.3f} {r['rw'] / r['plain']:>13.1f} {r['previews']:>10.2f}"
        )
    print("goals: ratio (archive / read+write) <= 1.5; read+write / no-script >= 10")


if __name__ == "__main__":
    main()
