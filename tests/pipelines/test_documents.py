"""Command documents: XNAT's public dcm2niix command parses as it is; a bad one is refused naming the field."""

import copy
import json

import pytest

from pipelines.documents import parse_command
from xnatlite.errors import InvalidInput

# NrgXnat/docker-images dcm2niix/command.json, as published (older spellings, "true" strings).
XNAT_DCM2NIIX = {
    "name": "dcm2niix",
    "description": "Runs dcm2niix",
    "info-url": "https://github.com/rordenlab/dcm2niix",
    "version": "1.3",
    "schema-version": "1.0",
    "type": "docker",
    "image": "xnat/dcm2niix",
    "command-line": "dcm2niix [BIDS] [OTHER_OPTIONS] -o /output /input",
    "mounts": [
        {"name": "dicom-in", "writable": "false", "path": "/input"},
        {"name": "nifti-out", "writable": "true", "path": "/output"},
    ],
    "inputs": [
        {
            "name": "bids",
            "description": "Create BIDS metadata file",
            "type": "boolean",
            "required": False,
            "default-value": False,
            "replacement-key": "[BIDS]",
            "command-line-flag": "-b",
            "true-value": "y",
            "false-value": "n",
        },
        {"name": "other-options", "type": "string", "required": False, "replacement-key": "[OTHER_OPTIONS]"},
    ],
    "outputs": [
        {"name": "nifti", "description": "The nifti files", "mount": "nifti-out", "required": "true"}
    ],
    "xnat": [
        {
            "name": "dcm2niix-scan",
            "description": "Run dcm2niix on a Scan",
            "contexts": ["xnat:imageScanData"],
            "external-inputs": [
                {
                    "name": "scan",
                    "description": "Input scan",
                    "type": "Scan",
                    "required": True,
                    "matcher": "'DICOM' in @.resources[*].label",
                }
            ],
            "derived-inputs": [
                {
                    "name": "scan-dicoms",
                    "type": "Resource",
                    "derived-from-xnat-input": "scan",
                    "provides-files-for-command-mount": "dicom-in",
                    "matcher": "@.label == 'DICOM'",
                }
            ],
            "output-handlers": [
                {
                    "name": "nifti-resource",
                    "accepts-command-output": "nifti",
                    "as-a-child-of-xnat-input": "scan",
                    "type": "Resource",
                    "label": "NIFTI",
                }
            ],
        }
    ],
}


def test_xnats_dcm2niix_command_parses():
    command = parse_command(json.dumps(XNAT_DCM2NIIX))
    assert (command.name, command.version, command.type, command.image) == (
        "dcm2niix",
        "1.3",
        "docker",
        "xnat/dcm2niix",
    )
    assert [(m.name, m.writable, m.path) for m in command.mounts] == [
        ("dicom-in", False, "/input"),
        ("nifti-out", True, "/output"),
    ]
    bids = command.inputs[0]
    assert (bids.type, bids.default_value, bids.command_line_flag, bids.true_value) == (
        "boolean",
        "false",
        "-b",
        "y",
    )
    assert command.outputs[0].required is True
    wrapper = command.wrapper("dcm2niix-scan")
    assert wrapper.level == "scan"
    assert wrapper.derived_inputs[0].derived_from == "scan"
    assert wrapper.output_handlers[0].as_a_child_of == "scan"
    assert wrapper.output_handlers[0].label == "NIFTI"


def broken(change) -> dict:
    document = copy.deepcopy(XNAT_DCM2NIIX)
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.pop("command-line"), "command-line: Field required"),
        (lambda d: d["inputs"][0].update(type="colour"), "inputs.0.type:"),
        (lambda d: d.update(type="singularity"), "type:"),
        (lambda d: d["outputs"][0].update(mount="elsewhere"), "outputs.0.mount: no mount named 'elsewhere'"),
        (
            lambda d: d["xnat"][0]["output-handlers"][0].update({"accepts-command-output": "x"}),
            "xnat.0.output-handlers.0: no output 'x'",
        ),
        (lambda d: d["xnat"][0].update(contexts=["xnat:projectData"]), "xnat.0.contexts:"),
        (
            lambda d: d["xnat"][0]["external-inputs"][0].update(matcher="@.x =~ /a/"),
            "xnat.0.external-inputs.0.matcher:",
        ),
        (lambda d: d.pop("image"), "image: a docker or podman command needs an image"),
    ],
)
def test_it_refuses_a_bad_command_naming_the_field(change, named):
    with pytest.raises(InvalidInput) as refused:
        parse_command(broken(change))
    assert named in refused.value.message


def test_it_refuses_what_is_not_json():
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_command("{name: dcm2niix")
