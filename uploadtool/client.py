"""The few calls the upload tool makes to the server's XNAT API, over plain HTTP(S) with basic auth
(a user name and password, or an alias token and its secret), the upload streamed from disk."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

CHUNK = 1 << 20


class UploadError(Exception):
    """Something the person running the tool has to act on; the message says what."""


class Client:
    def __init__(self, url: str, user: str, password: str, timeout: float = 600):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UploadError(f"The server address must look like https://xnat.example.org/, not '{url}'")
        self.url, self.parts, self.timeout = url.rstrip("/"), parts, timeout
        self.host: str = parts.hostname
        self.base = parts.path.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.auth = f"Basic {token}"

    def _connection(self) -> http.client.HTTPConnection:
        if self.parts.scheme == "https":
            return http.client.HTTPSConnection(
                self.host,
                self.parts.port,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(self.host, self.parts.port, timeout=self.timeout)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Path | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[int, str]:
        connection = self._connection()
        try:
            connection.putrequest(method, self.base + path)
            connection.putheader("Authorization", self.auth)
            connection.putheader("Accept", "application/json, text/plain")
            size = body.stat().st_size if body else 0
            if body:
                connection.putheader("Content-Type", "application/zip")
            connection.putheader("Content-Length", str(size))
            connection.endheaders()
            if body:
                sent = 0
                with open(body, "rb") as stream:
                    while chunk := stream.read(CHUNK):
                        connection.send(chunk)
                        sent += len(chunk)
                        if progress:
                            progress(sent, size)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            raise UploadError(f"Cannot talk to {self.url}: {exc}") from exc
        finally:
            connection.close()

    @staticmethod
    def _explain(status: int, text: str, what: str) -> UploadError:
        message = text.strip().splitlines()[0] if text.strip() else ""
        if status == 401:
            return UploadError("The server refused the user name or password (401)")
        if status == 403:
            return UploadError(f"You may not {what} (403){': ' + message if message else ''}")
        if status == 409 and message.endswith("confirmIdentifiers=true"):  # the server's identity policy
            message = message.removesuffix(": confirmIdentifiers=true")
            return UploadError(
                f"{message}. The study waits in the project's prearchive: archive it there (Review and "
                "Archive), or send it with --confirm-identifiers (409)"
            )
        return UploadError(f"Could not {what} ({status}){': ' + message if message else ''}")

    def check_project(self, project: str) -> str:
        """The project's name; UploadError when the credentials are wrong or the project is not there
        for this user (checked before anything is uploaded)."""
        status, text = self._request("GET", f"/data/projects/{quote(project, safe='')}?format=json")
        if status == 404:
            raise UploadError(f"No project '{project}' on {self.url} that you may use (404)")
        if status != 200:
            raise self._explain(status, text, f"read project {project}")
        try:
            return json.loads(text)["items"][0]["data_fields"].get("name", project)
        except (ValueError, KeyError, IndexError):
            return project

    def import_zip(
        self, zip_path: Path, params: dict[str, str], progress: Callable[[int, int], None] | None = None
    ) -> list[str]:
        """POST the zip to the import service; the URIs of the sessions it made."""
        query = urlencode({"import-handler": "DICOM-zip", **params})
        status, text = self._request(
            "POST", f"/data/services/import?{query}", body=zip_path, progress=progress
        )
        if status != 200:
            raise self._explain(status, text, "import the study")
        return [line.strip() for line in text.splitlines() if line.strip()]
