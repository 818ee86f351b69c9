"""REST API benchmark: big listings and a big session zip, each next to a static file of the same size
served by the same server in the same run; SQL queries per listing at two sizes; server memory during
the download.

    .venv/bin/python bench/api.py [--sessions 10000] [--instances 500] [--repeat 3]

Builds a throwaway SQLite database and data folder under a temporary directory, starts
`manage.py serve --web-only` on a free loopback port (waitress, as in the embedded default), and prints
seconds per request, the ratio to the static file, query counts and the server's resident memory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(work: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ["XNATLITE_DATA_ROOT"] = str(work / "data")
    os.environ["XNATLITE_STATIC_ROOT"] = str(work / "static")
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "xnatlite.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def make_data(n_sessions: int, n_instances: int) -> dict:
    """Project BENCH with n_sessions sessions, project SMALL with 100, and one MR session with
    n_instances 256x256 instances stored as real files."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    from archive.models import File, ImageSession, Subject
    from archive.services.resources import create_resource
    from archive.services.scans import create_scan
    from archive.services.sessions import create_session
    from archive.services.subjects import create_subject
    from xnatlite import layout, permissions, projects

    user = get_user_model().objects.create_user("bench", password="bench-pw")
    timings = {}
    for project_id, count in (("SMALL", 100), ("BENCH", n_sessions)):
        project = projects.create_project(
            project_id, by=permissions.command_actor("bench"), owner=user, name=project_id
        )
        started = time.perf_counter()
        subjects = Subject.objects.bulk_create(
            Subject(project=project, label=f"S{n:05d}", accession_id=f"{project_id}_S{n:05d}")
            for n in range(max(count // 10, 1))
        )
        ImageSession.objects.bulk_create(
            (
                ImageSession(
                    project=project,
                    subject=subjects[n % len(subjects)],
                    label=f"E{n:05d}",
                    accession_id=f"{project_id}_E{n:05d}",
                    xsi_type="xnat:mrSessionData",
                    modality="MR",
                )
                for n in range(count)
            ),
            batch_size=2000,
        )
        timings[project_id] = time.perf_counter() - started

    project = projects.create_project("ZIP", by=permissions.command_actor("bench"), owner=user, name="ZIP")
    subject = create_subject(project, "S1", by=user)
    session = create_session(subject, "MR500", by=user)
    scan = create_scan(session, "1", by=user, type="T1")
    resource = create_resource(scan, "DICOM", by=user, format="DICOM")
    folder = Path(resource.folder)
    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    rows = []
    for n in range(n_instances):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, generate_uid()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = study, series, "MR"
        ds.InstanceNumber, ds.Rows, ds.Columns = n + 1, 256, 256
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = (np.random.default_rng(n).integers(0, 4096, 256 * 256, dtype=np.uint16)).tobytes()
        path = folder / f"{n:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        data = path.read_bytes()
        rows.append(
            File(
                resource=resource,
                name=path.name,
                path=layout.relative_path(path),
                size=len(data),
                md5=hashlib.md5(data).hexdigest(),
                sop_instance_uid=ds.SOPInstanceUID,
            )
        )
    File.objects.bulk_create(rows)
    return {"session": session, "timings": timings, "zip_bytes": sum(r.size for r in rows)}


def measure_in_process(paths: dict[str, str]) -> tuple[dict[str, int], dict[str, int]]:
    """SQL queries of the listings for 100 and for N sessions, and the size of each response (so
    static files of the same sizes exist before the server starts). In-process, same code."""
    import base64

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    auth = "Basic " + base64.b64encode(b"bench:bench-pw").decode()
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=auth)
    client.get("/data/projects")
    counts, sizes = {}, {}
    for project_id in ("SMALL", "BENCH"):
        for fmt in ("json", "csv"):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"/data/projects/{project_id}/experiments?format={fmt}")
                if response.streaming:
                    b"".join(response.streaming_content)
            counts[f"{project_id} {fmt}"] = len(queries)
    for name, path in paths.items():
        response = client.get(path)
        sizes[name] = (
            sum(len(c) for c in response.streaming_content) if response.streaming else len(response.content)
        )
    return counts, sizes


def start_server(work: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = open(work / "serve.log", "w")  # noqa: SIM115 - the child writes to it for its whole life
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--web-only", "--no-migrate", "--port", "0", "--threads", "4"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = (work / "serve.log").read_text()
        if "serving http://" in text:
            return proc, text.split("serving ", 1)[1].split()[0].rstrip("/")
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{text}")
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fetch(session, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    size = 0
    with session.get(url, stream=True, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            size += len(chunk)
    return time.perf_counter() - started, size


def best(session, url: str, repeat: int) -> tuple[float, int]:
    results = [fetch(session, url) for _ in range(repeat)]
    return min(t for t, _ in results), results[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import requests

    work = Path(tempfile.mkdtemp(prefix="xnatlite-bench-api-"))
    try:
        (work / "static").mkdir()
        setup_django(work)
        print(f"building {args.sessions} sessions and a {args.instances}-instance MR session ...", flush=True)
        data = make_data(args.sessions, args.instances)
        eid = data["session"].accession_id
        paths = {
            "experiments JSON": "/data/projects/BENCH/experiments?format=json",
            "experiments CSV": "/data/projects/BENCH/experiments?format=csv",
            "session zip": f"/data/experiments/{eid}/scans/ALL/files?format=zip",
        }
        counts, sizes = measure_in_process(paths)
        for name, size in sizes.items():  # WhiteNoise indexes STATIC_ROOT when the server starts
            (work / "static" / f"{name.replace(' ', '-')}.bin").write_bytes(os.urandom(size))
        proc, base = start_server(work)
        try:
            http = requests.Session()
            http.auth = ("bench", "bench-pw")
            print(f"\n{'request':<20}{'seconds':>10}{'MB':>9}{'static s':>10}{'ratio':>8}")
            peak = before = 0.0
            for name, path in paths.items():
                url = base + path
                fetch(http, url)  # warm up
                before = rss_mb(proc.pid)
                sampling, samples = threading.Event(), []

                def sample(stop=sampling, out=samples):
                    while not stop.is_set():
                        out.append(rss_mb(proc.pid))
                        time.sleep(0.02)

                sampler = threading.Thread(target=sample)
                sampler.start()
                seconds, size = best(http, url, args.repeat)
                sampling.set()
                sampler.join()
                static_url = f"{base}/static/{name.replace(' ', '-')}.bin"
                static_seconds, static_size = best(http, static_url, args.repeat)
                assert static_size == size, (static_size, size)
                print(
                    f"{name:<20}{seconds:>10.3f}{size / 1e6:>9.1f}{static_seconds:>10.3f}"
                    f"{seconds / static_seconds:>8.2f}"
                )
                if name == "session zip":
                    peak, idle = max(samples or [0.0]), before
        finally:
            proc.terminate()
            proc.wait(30)
        print("\nSQL queries per listing (100 sessions vs", args.sessions, "):")
        for key, value in counts.items():
            print(f"  {key:<14}{value:>4}")
        print(
            f"\nserver memory: {idle:.0f} MB before downloads, {peak:.0f} MB peak during the "
            f"{data['zip_bytes'] / 1e6:.0f} MB zip download"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
