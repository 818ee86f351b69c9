"""Command lines, exactly, for each runtime."""

import shlex
from pathlib import Path

import pytest

from pipelines.commandline import BoundMount, container_argv, fill_template, input_values, program_argv
from pipelines.documents import parse_command
from tests.pipelines.test_documents import XNAT_DCM2NIIX
from xnatlite.errors import InvalidInput

MOUNTS = [
    BoundMount("dicom-in", "/input", Path("/data/archive/A/arc001/S1/SCANS/1/DICOM"), False),
    BoundMount("nifti-out", "/output", Path("/data/cache/pipelines/7/mounts/nifti-out"), True),
]


def command(**changes):
    return parse_command({**XNAT_DCM2NIIX, **changes})


def test_keys_are_filled_as_xnat_does():
    dcm2niix = command()
    assert fill_template(dcm2niix, input_values(dcm2niix, {})) == "dcm2niix -b n -o /output /input"
    assert fill_template(
        dcm2niix, input_values(dcm2niix, {"bids": "true", "other-options": "-z y -m n"})
    ) == ("dcm2niix -b y -z y -m n -o /output /input")


def test_values_never_become_shell():
    dcm2niix = command()
    line = fill_template(dcm2niix, input_values(dcm2niix, {"other-options": "-z y; rm -rf / $(id)"}))
    assert line == "dcm2niix -b n -z 'y;' rm -rf / '$(id)' -o /output /input"


def test_inputs_are_checked():
    dcm2niix = command()
    with pytest.raises(InvalidInput, match="Input 'bids' is true or false"):
        input_values(dcm2niix, {"bids": "maybe"})
    required = command(
        inputs=[{"name": "level", "type": "number", "required": True}], **{"command-line": "x #LEVEL#"}
    )
    with pytest.raises(InvalidInput, match="Input 'level' is required"):
        input_values(required, {})
    with pytest.raises(InvalidInput, match="is a number"):
        input_values(required, {"level": "high"})
    assert fill_template(required, input_values(required, {"level": "3"})) == "x 3"


def test_docker_command_line():
    dcm2niix = command(**{"limit-memory": 2048, "limit-cpu": 1.5, "environment-variables": {"A": "1"}})
    argv = container_argv(dcm2niix, "dcm2niix -b y -o /output /input", MOUNTS, name="xnatlite-run-7")
    assert shlex.join(argv) == (
        "docker run --rm --name xnatlite-run-7"
        " --volume /data/archive/A/arc001/S1/SCANS/1/DICOM:/input:ro"
        " --volume /data/cache/pipelines/7/mounts/nifti-out:/output:rw"
        " --env A=1 --memory 2048m --cpus 1.5 --entrypoint '' xnat/dcm2niix"
        " /bin/sh -c 'dcm2niix -b y -o /output /input'"
    )


def test_podman_command_line():
    argv = container_argv(command(type="podman", workdir="/work"), "dcm2niix /input", MOUNTS[:1], name="r1")
    assert shlex.join(argv) == (
        "podman run --rm --name r1 --volume /data/archive/A/arc001/S1/SCANS/1/DICOM:/input:ro"
        " --workdir /work --entrypoint '' xnat/dcm2niix /bin/sh -c 'dcm2niix /input'"
    )


def test_program_command_line_translates_mount_paths():
    program = command(type="xnatlite-program", image="")
    argv = program_argv(program, "dcm2niix -b y -o /output /input/x.dcm /inputs /data/output", MOUNTS)
    assert argv == [
        "/bin/sh",
        "-c",
        "dcm2niix -b y -o /data/cache/pipelines/7/mounts/nifti-out /data/archive/A/arc001/S1/SCANS/1/DICOM/x.dcm"
        " /inputs /data/output",
    ]
