"""Receiver speed: xnatlite's full path against a bare pynetdicom SCP, Orthanc and dcmtk's storescp.

    .venv/bin/python bench/receiver.py [--quick] [--repeat 3] [--only xnatlite orthanc ...]

Sends a generated 500-instance MR study (256x256) and a 300-instance CT study (512x512) with dcmtk's
storescu (the same fast C++ sender for every receiver), over one association and over 4 concurrent
associations, to each receiver started fresh (empty storage) for each run:

  xnatlite        `manage.py dicom_receiver` (receiver processes and spool workers, one of each per
                  core) on a throwaway SQLite database: routing, the default site script (PS3.15 Annex
                  E), prearchive files and rows
  xnatlite-serve  the same receiver inside `manage.py serve` (the embedded mode: threads)
  pynetdicom      a bare pynetdicom SCP that only writes each received data set to a file
  orthanc         the Debian `orthanc` package, default storage (files + SQLite index)
  storescp        dcmtk's storescp --fork, writing files

xnatlite acknowledges an instance once it is in its spool and processes it a moment later, so it is
timed twice: (a) until the sender is done (every instance acknowledged) and (b) until every instance
is processed (its prearchive row exists, so its site script ran). The ratio to Orthanc that counts is
(b). Each case runs `--repeat` times, the receivers interleaved, and the best run is shown (this 2-core
machine is shared, figures vary by +-30 %). Prints instances/s, MB/s, the ratio to Orthanc, the
receiver's peak memory (sum of the peak RSS of its processes) and the CPU cores it kept busy (CPU time
/ wall time). Goal: xnatlite >= Orthanc in each case.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ports import PortTaken, start_on_a_free_port  # noqa: E402 - found through the path above

DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}  # dcmtk programs are slow on loopback without it
SHARDS = 4
TICKS = os.sysconf("SC_CLK_TCK")


def check_port_taken(port: int, proc: subprocess.Popen, log: Path) -> None:
    """PortTaken, with the receiver stopped, when it says its port was taken after it was chosen:
    `start_on_a_free_port` starts it again on another one (tests/ports.py)."""
    if "already in use" in log.read_text(errors="replace"):  # Orthanc, dcmtk, pynetdicom, xnatlite say so
        for pid in process_tree(proc.pid):  # xnatlite's children too: they would go on writing the log
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        raise PortTaken(port)


def listens(port: int, pids: list[int]) -> bool:
    """Whether one of `pids` holds a socket listening on `port`: a connection that succeeds may have
    reached another program that took the port first."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return True
            except OSError:
                pass
    return False


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until the receiver `proc` (or a child of it) listens on `port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_port_taken(port, proc, log)
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited early:\n{log.read_text()[-3000:]}")
        if listens(port, process_tree(proc.pid)):
            return
        time.sleep(0.1)
    raise RuntimeError(f"receiver did not listen on {port}:\n{log.read_text()[-3000:]}")


# --- the studies ------------------------------------------------------------------------------------
def make_studies(folder: Path, quick: bool) -> dict[str, tuple[Path, int, int]]:
    """{name: (folder with SHARDS subfolders, instances, bytes)}"""
    from tests.dicomgen import make_study

    specs = {"MR 256x256": (500, 256, "MR", "BENCHMR"), "CT 512x512": (300, 512, "CT", "BENCHCT")}
    studies = {}
    for name, (count, size, modality, patient) in specs.items():
        count = count // 5 if quick else count
        study_dir = folder / modality
        datasets = make_study(
            n_series=1,
            n_instances=count,
            modality=modality,
            rows=size,
            cols=size,
            patient_id=patient,
            study_description="BENCH",
        )
        total = 0
        for n, ds in enumerate(datasets):
            shard = study_dir / f"shard{n % SHARDS}"
            shard.mkdir(parents=True, exist_ok=True)
            path = shard / f"{n:05d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            total += path.stat().st_size
        studies[name] = (study_dir, count, total)
    return studies


def send(study_dir: Path, port: int, called_ae: str, associations: int) -> float:
    """storescu from dcmtk, one process per association; seconds until every instance is acknowledged."""
    shards = sorted(study_dir.iterdir())
    groups = [shards] if associations == 1 else [[s] for s in shards[:associations]]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            ["storescu", "-aet", "BENCHSCU", "-aec", called_ae, "+sd", "+r", "127.0.0.1", str(port)]
            + [str(s) for s in group],
            env=DCMTK_ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for group in groups
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"storescu failed: {err.decode()[-2000:]}")
    return time.monotonic() - started


# --- process accounting -------------------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime + stime, and cutime + cstime of children already reaped (storescp --fork)
            total += sum(int(f) for f in fields[11:15]) / TICKS
        except OSError:
            pass
    return total


def peak_rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


# --- receivers ----------------------------------------------------------------------------------------
@dataclass
class Running:
    proc: subprocess.Popen
    port: int
    ae: str
    workdir: Path
    count_stored: object = None
    deferred: bool = False  # acknowledges before processing: wait for count_stored as well

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def xnatlite_template(base: Path, root: Path = ROOT, python: str = sys.executable) -> dict:
    """A migrated SQLite database with a project BENCH, copied for every run (of the code in `root`)."""
    env = {
        **os.environ,
        "SECRET_KEY": "bench",
        "DATABASE_URL": f"sqlite:///{base / 'template.sqlite3'}",
        "XNATLITE_DATA_ROOT": str(base / "template-data"),
        "XNATLITE_LOG_LEVEL": "WARNING",
    }
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    code = (
        "from django.contrib.auth import get_user_model\n"
        "try:\n    from xnatlite.projects import create_project\n"
        "except ImportError:  # a tree from before projects moved to the kernel\n"
        "    from archive.services import create_project\n"
        "u = get_user_model().objects.create_superuser('bench', 'b@example.org', 'x')\n"
        "create_project('BENCH', by=u, name='bench')"
    )
    subprocess.run([python, "manage.py", "shell", "-c", code], cwd=root, env=env, check=True)
    return env


def _xnatlite_env(workdir: Path, template: Path, port: int) -> dict:
    for left in workdir.glob("db.sqlite3*"):  # of a start on a port found taken: its WAL would be replayed
        left.unlink()
    shutil.copy(template / "template.sqlite3", workdir / "db.sqlite3")
    return {
        **os.environ,
        "SECRET_KEY": "bench",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "XNATLITE_DATA_ROOT": str(workdir / "data"),
        "XNATLITE_DICOM_PORT": str(port),
        "XNATLITE_DICOM_HOST": "127.0.0.1",
        "XNATLITE_LOG_LEVEL": "WARNING",
        "XNATLITE_SESSION_CHECK_SECONDS": "3600",  # serve's idle builder stays out of the way
    }


def _rows(workdir: Path):
    def stored() -> int:
        import sqlite3

        with sqlite3.connect(workdir / "db.sqlite3", timeout=30) as db:
            return db.execute("select count(*) from prearchive_prearchivefile").fetchone()[0]

    return stored


def _start_xnatlite(
    workdir: Path, template: Path, port: int, *command: str, root: Path = ROOT, python: str = sys.executable
) -> Running:
    log = workdir / "xnatlite.log"
    proc = subprocess.Popen(
        [python, "manage.py", *command],
        cwd=root,
        env=_xnatlite_env(workdir, template, port),
        stdout=open(log, "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    wait_port(port, proc, log)
    time.sleep(1.0)  # every receiver process listens, every spool worker is warm
    return Running(proc, port, "XNATLITE", workdir, _rows(workdir), deferred=True)


def start_xnatlite(workdir: Path, template: Path, root: Path = ROOT, python: str = sys.executable) -> Running:
    return start_on_a_free_port(
        lambda port: _start_xnatlite(
            workdir, template, port, "dicom_receiver", "--host", "127.0.0.1", root=root, python=python
        )
    )


def start_xnatlite_serve(workdir: Path, template: Path) -> Running:
    # the web server binds a port of its own choosing (--port 0); the receiver's is chosen here
    return start_on_a_free_port(
        lambda port: _start_xnatlite(workdir, template, port, "serve", "--no-migrate", "--port", "0")
    )


def start_pynetdicom(workdir: Path) -> Running:
    return start_on_a_free_port(lambda port: _start_pynetdicom(workdir, port))


def _start_pynetdicom(workdir: Path, port: int) -> Running:
    log = workdir / "scp.log"
    out = workdir / "files"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bare_scp.py"), str(port), str(out)],
        stdout=open(log, "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    wait_port(port, proc, log)
    return Running(proc, port, "BARE", workdir, lambda: len(list(out.glob("*"))))


def start_orthanc(workdir: Path) -> Running:
    return start_on_a_free_port(lambda port, http_port: _start_orthanc(workdir, port, http_port), ports=2)


def _start_orthanc(workdir: Path, port: int, http_port: int) -> Running:
    storage = workdir / "orthanc"
    config = {
        "Name": "bench",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "DicomAet": "ORTHANC",
        "DicomPort": port,
        "HttpPort": http_port,
        "HttpServerEnabled": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "StorageCompression": False,
        "Plugins": [],
    }
    (workdir / "orthanc.json").write_text(json.dumps(config))
    log = workdir / "orthanc.log"
    proc = subprocess.Popen(
        ["/usr/sbin/Orthanc", str(workdir / "orthanc.json")],
        env=DCMTK_ENV,  # Orthanc's DICOM layer is dcmtk's
        stdout=open(log, "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    wait_port(port, proc, log)

    def stored() -> int:
        return sum(1 for p in storage.rglob("*") if p.is_file() and len(p.name) == 36)

    return Running(proc, port, "ORTHANC", workdir, stored)


def start_storescp(workdir: Path) -> Running:
    return start_on_a_free_port(lambda port: _start_storescp(workdir, port))


def _start_storescp(workdir: Path, port: int) -> Running:
    out = workdir / "files"
    out.mkdir(exist_ok=True)
    log = workdir / "storescp.log"
    proc = subprocess.Popen(
        ["storescp", "--fork", "-aet", "STORESCP", "-od", str(out), str(port)],
        env=DCMTK_ENV,
        stdout=open(log, "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    wait_port(port, proc, log)
    return Running(proc, port, "STORESCP", workdir, lambda: len(list(out.glob("*"))))


def run_once(start, workdir: Path, study_dir: Path, count: int, associations: int) -> dict:
    """One receiver, one study: rates until acknowledged and until processed, memory, cores."""
    workdir.mkdir()
    running = start(workdir)
    try:
        pids = process_tree(running.proc.pid)
        cpu_before = cpu_seconds(pids)
        started = time.monotonic()
        acknowledged = send(study_dir, running.port, running.ae, associations)
        processed = acknowledged
        if running.deferred:
            deadline = time.monotonic() + 600
            while running.count_stored() < count and time.monotonic() < deadline:
                time.sleep(0.01)
            processed = time.monotonic() - started
        pids = process_tree(running.proc.pid)  # storescp --fork children are gone by now
        cpu = cpu_seconds(pids) - cpu_before
        memory = peak_rss_mb(pids)
        stored = running.count_stored()
    finally:
        running.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "acknowledged": acknowledged,
        "processed": processed,
        "memory": memory,
        "cores": cpu / processed,
        "stored": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="studies a fifth of the size (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; the best is shown")
    parser.add_argument(
        "--only", nargs="*", help="receivers to run (xnatlite xnatlite-serve pynetdicom orthanc storescp)"
    )
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run `manage.py dicom_receiver` of another checkout (with its own .venv) as receiver NAME,"
        " to compare two versions of the code in the same run",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xnatlite.settings")
    base = Path(tempfile.mkdtemp(prefix="xnatlite-bench-receiver-"))
    try:
        print(f"generating studies in {base} ...", flush=True)
        studies = make_studies(base / "studies", args.quick)
        template = base / "template"
        template.mkdir()
        xnatlite_template(template)
        receivers = {
            "xnatlite": lambda w: start_xnatlite(w, template),
            "xnatlite-serve": lambda w: start_xnatlite_serve(w, template),
            "pynetdicom": start_pynetdicom,
            "orthanc": start_orthanc,
            "storescp": start_storescp,
        }
        for tree in args.tree:
            name, _, path = tree.partition("=")
            root = Path(path).resolve()
            python = str(root / ".venv" / "bin" / "python")
            tree_template = base / f"template-{name}"
            tree_template.mkdir()
            xnatlite_template(tree_template, root, python)
            receivers[name] = functools.partial(
                start_xnatlite, template=tree_template, root=root, python=python
            )
        if args.only:
            receivers = {
                k: v
                for k, v in receivers.items()
                if k in args.only or k in dict(t.split("=", 1) for t in args.tree)
            }
        best: dict[tuple, dict] = {}
        runs = 0
        for study_name, (study_dir, count, size) in studies.items():
            for associations in (1, 4):
                for attempt in range(args.repeat):
                    for name, start in receivers.items():
                        runs += 1
                        workdir = base / f"run{runs}-{name}"
                        result = run_once(start, workdir, study_dir, count, associations)
                        if result["stored"] != count:
                            print(f"  warning: {name} stored {result['stored']} of {count} instances")
                        key = (study_name, associations, name)
                        print(
                            f"  {study_name} x{associations} {name} run {attempt + 1}: "
                            f"{count / result['processed']:.0f}/s",
                            flush=True,
                        )
                        if key not in best or result["processed"] < best[key]["processed"]:
                            best[key] = {**result, "count": count, "size": size}
        print()
        print(
            f"{'study':12} {'assoc':>5} {'receiver':15} {'(a) inst/s':>10} {'(b) inst/s':>10} {'(b) MB/s':>8}"
            f" {'(b) vs Orthanc':>14} {'peak MB':>8} {'cores':>6}"
        )
        for (study_name, associations, name), r in best.items():
            orthanc = best.get((study_name, associations, "orthanc"))
            processed_rate = r["count"] / r["processed"]
            ratio = f"{processed_rate / (orthanc['count'] / orthanc['processed']):.2f}x" if orthanc else "-"
            print(
                f"{study_name:12} {associations:>5} {name:15} {r['count'] / r['acknowledged']:10.0f}"
                f" {processed_rate:10.0f} {r['size'] / r['processed'] / 1e6:8.1f} {ratio:>14}"
                f" {r['memory']:8.0f} {r['cores']:6.2f}"
            )
        print(
            "\n(a) until every instance is acknowledged; (b) until every instance is processed (xnatlite:"
            " its prearchive row exists; the others store synchronously, so (a) = (b))."
            "\ncores: receiver CPU time / wall time until (b), with reaped children; peak MB: sum of each"
            " process's peak RSS"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
