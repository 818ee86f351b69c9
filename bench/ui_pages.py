"""Benchmark: server time of the busiest UI pages next to a trivial page, in the same run.

Run with ``.venv/bin/python bench/ui_pages.py [--sessions 10000] [--prearchive 1000] [--repeat 15]``.
It builds a throwaway database (SQLite under a temporary folder, or the PostgreSQL database named by
``--database-url``) holding one project with N archived sessions (each with a subject and three scans)
and M prearchive sessions, then requests each page in-process through Django's full stack (middleware,
permission checks, queries, templates) as the project owner, and prints the median time per page, its
ratio to the trivial page (the password form, same base template) and the SQL queries per page.
The SQL query counts do not depend on the number of rows (the view tests assert that); the time is what grows.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(database_url: str | None, folder: Path) -> None:
    """Environment for a private database and data root; must run before django.setup()."""
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["XNATLITE_DATA_ROOT"] = str(folder / "data")
    os.environ["XNATLITE_STATIC_ROOT"] = str(folder / "static")
    os.environ.setdefault("SECRET_KEY", "bench-ui-pages")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("XNATLITE_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xnatlite.settings")
    import django

    django.setup()


def populate(sessions: int, prearchive: int):
    """One project with `sessions` archived sessions (3 scans each) and `prearchive` prearchive rows."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from archive.models import ImageSession, Scan, Subject
    from prearchive.models import PrearchiveSession, Status
    from xnatlite import permissions, projects

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("owner", "owner@example.org", "pw")
    project = projects.create_project(
        "BENCH", by=permissions.command_actor("bench"), owner=owner, name="Benchmark project"
    )
    modalities = ["MR", "CT", "PT", "MR"]
    with transaction.atomic():
        subjects = Subject.objects.bulk_create(
            (
                Subject(project=project, label=f"SUBJ{n:05d}", accession_id=f"BENCH_S{n:06d}")
                for n in range(max(1, sessions // 4))
            ),
            batch_size=2000,
        )
        rows = ImageSession.objects.bulk_create(
            (
                ImageSession(
                    project=project,
                    subject=subjects[n % len(subjects)],
                    label=f"SESS{n:05d}",
                    accession_id=f"BENCH_E{n:06d}",
                    modality=modalities[n % 4],
                    date=datetime.date(2015, 1, 1) + datetime.timedelta(days=n % 3000),
                    xsi_type="xnat:mrSessionData",
                )
                for n in range(sessions)
            ),
            batch_size=2000,
        )
        Scan.objects.bulk_create(
            (Scan(session=s, scan_id=str(k), sort_key=k, type="T1") for s in rows for k in (1, 2, 3)),
            batch_size=5000,
        )
        now = timezone.now()
        statuses = [Status.READY, Status.RECEIVING, Status.ERROR, Status.CONFLICT]
        PrearchiveSession.objects.bulk_create(
            (
                PrearchiveSession(
                    project=project,
                    timestamp=f"20240101_{n // 1000:06d}{n % 1000:03d}",
                    folder_name=f"PRE{n:05d}",
                    label=f"PRE{n:05d}",
                    subject_label=f"SUBJ{n:05d}",
                    status=statuses[n % 4],
                    status_reason="Session already exists" if n % 4 == 3 else "",
                    file_count=200,
                    scan_count=5,
                    total_size=100_000_000,
                    created_at=now,
                    last_modified=now,
                )
                for n in range(prearchive)
            ),
            batch_size=2000,
        )
    with connection.cursor() as cursor:  # fresh statistics, as autovacuum/ANALYZE give a live site
        cursor.execute("ANALYZE")
    return owner


PAGES = [
    ("trivial page (password form)", "/password/"),
    ("project page, newest first", "/projects/BENCH/"),
    ("project page, by subject", "/projects/BENCH/?sort=subject"),
    ("project page, by scan count", "/projects/BENCH/?sort=-scans"),
    ("project page, last page", "/projects/BENCH/?sort=label&page=9999"),
    ("project page, search", "/projects/BENCH/?q=SESS0999&modality=MR"),
    ("subjects page", "/projects/BENCH/subjects/"),
    ("project prearchive", "/projects/BENCH/prearchive/"),
    ("site-wide prearchive", "/prearchive/"),
    ("session page", "/projects/BENCH/sessions/SESS00042/"),
]


def measure(client, path: str, repeat: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(path)  # warm caches (templates, permission checker)
    assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(path)
        times.append(time.perf_counter() - start)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    return statistics.median(times), len(queries.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--prearchive", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database to fill (default: temporary SQLite)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="xnatlite-bench-ui-"))
    try:
        configure(args.database_url, folder)
        from django.db import connection
        from django.test import Client

        started = time.perf_counter()
        owner = populate(args.sessions, args.prearchive)
        print(
            f"{connection.vendor}: {args.sessions} sessions ({3 * args.sessions} scans), "
            f"{args.prearchive} prearchive sessions, built in {time.perf_counter() - started:.1f}s; "
            f"median of {args.repeat} requests per page"
        )
        client = Client()
        client.force_login(owner)
        baseline = None
        print(f"{'page':34} {'ms':>8} {'ratio':>7} {'SQL':>5}")
        for name, path in PAGES:
            seconds, queries = measure(client, path, args.repeat)
            baseline = baseline or seconds
            print(f"{name:34} {seconds * 1000:8.1f} {seconds / baseline:7.1f} {queries:5d}")
        if args.database_url:  # leave the given database empty again for the next run
            from django.core.management import call_command

            call_command("flush", interactive=False, verbosity=0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
