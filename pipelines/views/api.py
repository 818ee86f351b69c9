"""The Container Service's REST API as XNAT clients call it: launching a wrapper
(`POST /xapi/commands/{id}/wrappers/{id or name}/launch`, `/xapi/wrappers/{id}/launch`, and both under
`/xapi/projects/{p}/`) with a form or JSON body naming the object (`session=/archive/experiments/{id}`,
`scan=/archive/experiments/{id}/scans/{scan}`) and input values; the command history
(`GET /xapi/containers`, `/xapi/containers/{id}`, `/xapi/containers/{id}/logs/stdout`)."""

from __future__ import annotations

import json
import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from pipelines import queries, services
from pipelines.models import Launch, PipelineRun, Wrapper
from xnatapi import lookups
from xnatapi.http import api_view, error_response, params, text
from xnatlite import layout
from xnatlite.errors import InvalidInput, NotFound, XnatliteError

CONTEXT = re.compile(
    r"^(?:/?archive/)?(?:/?projects/(?P<project>[^/]+)/)?(?:subjects/[^/]+/)?/?(?:experiments/)?(?P<experiment>[^/]+)"
    r"(?:/scans/(?P<scan>[^/]+))?/?$"
)


def _body(request: HttpRequest) -> dict[str, str]:
    if request.META.get("CONTENT_TYPE", "").startswith("application/json"):
        try:
            data = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            raise InvalidInput("The body is not JSON") from None
        if not isinstance(data, dict):
            raise InvalidInput("The body must be a JSON object")
        return {
            **{k: request.GET.get(k, "") for k in request.GET},
            **{str(k): str(v) for k, v in data.items()},
        }
    values = params(request)
    if request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
        values.update({key: request.POST.get(key, "") for key in request.POST})
    return values


def _target(request: HttpRequest, wrapper: Wrapper, values: dict[str, str], project: str | None):
    """The object the launch names: the wrapper's external input (`scan`, `session`) or XNAT's names."""
    external = wrapper.parsed.external_inputs[0].name
    ref = values.pop(external, "") or values.pop(wrapper.level, "")
    found = CONTEXT.match(ref) if ref else None
    if found is None:
        raise InvalidInput(
            f"Name the {wrapper.level} to launch on: {external}=/archive/experiments/{{id}}"
            + ("/scans/{id}" if wrapper.level == "scan" else "")
        )
    session = lookups.get_session(request.user, found["experiment"], project=found["project"] or project)
    if wrapper.level == "scan":
        if not found["scan"]:
            raise InvalidInput(f"{external} names a session; this wrapper launches on a scan")
        return lookups.get_scan(request.user, session, found["scan"])
    return session


def _answer(
    run: PipelineRun | None, values: dict[str, str], wrapper: Wrapper | None, exc: XnatliteError | None = None
) -> HttpResponse:
    if exc is not None:
        status = error_response(exc).status_code
        body = {
            "status": "failure",
            "message": exc.message if status != 404 else "Not Found",
            "params": values,
        }
        return JsonResponse(body, status=status)
    assert run is not None and wrapper is not None
    return JsonResponse(
        {
            "status": "success",
            "type": "container",
            "id": run.pk,
            "container-id": str(run.pk),
            "workflow-id": str(run.pk),
            "command-id": wrapper.command_id,
            "wrapper-id": wrapper.pk,
            "params": values,
        }
    )


@api_view
@require_POST
def launch(
    request: HttpRequest, wrapper: str, command: str | None = None, project: str | None = None
) -> HttpResponse:
    values = _body(request)
    shown = dict(values)
    try:
        if command is None:
            found = (
                Wrapper.objects.select_related("command")
                .filter(pk=wrapper if wrapper.isdigit() else 0)
                .first()
            )
            if found is None:
                raise NotFound("Wrapper not found")
        else:
            found = queries.get_wrapper(command, wrapper)
        target = _target(request, found, values, project)
        run = services.launch(target, found, params=values, by=request.user, via=Launch.REST)
    except XnatliteError as exc:
        return _answer(None, shown, None, exc)
    return _answer(run, shown, found)


def container_json(run: PipelineRun) -> dict:
    return {
        "id": run.pk,
        "command-id": run.command_id,
        "wrapper-id": run.wrapper_id,
        "status": run.status,
        "status-time": run.history[-1]["at"] if run.history else None,
        "project": run.project_id,
        "xnat-user": run.launched_by.get_username(),
        "exit-code": None if run.exit_code is None else str(run.exit_code),
        "command-line": run.command_line,
        "created": run.created_at.isoformat(),
        "history": [
            {"status": h["status"], "time-recorded": h["at"], "message": h.get("message", "")}
            for h in run.history
        ],
        "inputs": [{"name": k, "value": v} for k, v in run.inputs.get("values", {}).items()],
        "outputs": [
            {"label": r.label, "uri": f"/data/experiments/{run.session.accession_id}"}
            for r in run.outputs.all()
        ],
        "log-paths": [f"/xapi/containers/{run.pk}/logs/stdout"],
    }


@api_view
@require_GET
def containers(request: HttpRequest, project: str | None = None) -> HttpResponse:
    runs = queries.runs_for(request.user, project).prefetch_related("outputs")[:1000]
    return JsonResponse([container_json(run) for run in runs], safe=False)


@api_view
@require_GET
def container(request: HttpRequest, run_id: str) -> HttpResponse:
    return JsonResponse(container_json(queries.get_run(request.user, run_id)))


@api_view
@require_GET
def container_log(request: HttpRequest, run_id: str) -> HttpResponse:
    run = queries.get_run(request.user, run_id)
    try:
        return text(layout.absolute_path(run.log_path).read_text(errors="replace"))
    except (FileNotFoundError, ValueError):
        return text("")
