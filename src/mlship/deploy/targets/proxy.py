"""HAProxy in front of the docker target's model containers: traffic moves only to a ready model.

One proxy container per environment publishes the service port and reaches the model containers
over a bridge network of their own. Models join and leave through HAProxy's runtime API (no
reload, so no connection is dropped): a new one is added once its /readyz answered, the old one is
set to `drain` (no new requests, the ones in flight finish) and removed when it holds no session.
The same config is written into the proxy, so a restarted proxy starts with the servers it had.
The image is HAProxy from Debian's packages on the environment's base image, built once per engine.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import tarfile
import time
from dataclasses import dataclass
from typing import Any

from mlship import labels
from mlship.deploy.state import ROLE
from mlship.deploy.targets.base import Context
from mlship.errors import DeployError

LISTEN_PORT = 8000
SOCKET = "/run/haproxy/admin.sock"
CONFIG = "/etc/haproxy/haproxy.cfg"
BACKEND = "model"
# Given to every server, static and dynamic (HAProxy applies no default-server to dynamic ones).
SERVER_OPTIONS = "check inter 1s fastinter 250ms downinter 1s rise 1 fall 2"
PROXY_IMAGE = "mlship-proxy"
DEFAULT_PROXY_BASE = "debian:bookworm-slim"
DOCKERFILE = """FROM {base}
RUN apt-get update -q \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy socat \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /run/haproxy && chown haproxy:haproxy /run/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-db", "-f", "{config}"]
"""
# One runtime API command through socat, the command given as $1 (never parsed by a shell).
_CLIENT = 'printf "%s\\n" "$1" | socat -t 10 stdio unix-connect:' + SOCKET


# How the runtime API words a refusal (its answers have no status code).
_REFUSALS = ("unknown", "no such", "require", "error", "invalid", "cannot", "not found", "expects", "usage")


@dataclass
class Server:
    """One model container as the proxy sees it."""

    name: str
    address: str
    weight: int = 100
    status: str = ""  # UP, DOWN, MAINT, DRAIN, no check...
    sessions: int = 0
    requests: int = 0
    errors: int = 0
    response_ms: int = 0

    @property
    def serving(self) -> bool:
        return self.weight > 0 and self.status.startswith("UP")


def proxy_name(ctx: Context) -> str:
    return f"{ctx.name}-proxy"


def network_name(ctx: Context) -> str:
    return f"{ctx.name}-net"


def render_config(ctx: Context, servers: list[Server], service: str | None = None, slots: int = 0) -> str:
    """The proxy's config: the docker target's `servers`, or (swarm, publish: edge) every task of
    `service` found by the engine's DNS, in `slots` server slots."""
    import jinja2

    from mlship.templates_dir import templates_dir

    loader = jinja2.FileSystemLoader(str(templates_dir() / "deploy"))
    jinja = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return jinja.get_template("haproxy.cfg.j2").render(
        name=ctx.name,
        socket=SOCKET,
        listen_port=LISTEN_PORT,
        server_timeout=max(60, int(ctx.env.rollout_timeout)),
        servers=servers,
        server_options=SERVER_OPTIONS,
        service=service,
        service_port=ctx.container_port,
        slots=slots,
    )


def ensure_image(client: Any, base: str, report: Any) -> str:
    """The proxy image for `base` (HAProxy from the base's own Debian packages), built when missing."""
    from docker.errors import BuildError as DockerBuildError
    from docker.errors import ImageNotFound

    dockerfile = DOCKERFILE.format(base=base, config=CONFIG)
    tag = f"{PROXY_IMAGE}:haproxy-{hashlib.sha256(dockerfile.encode()).hexdigest()[:12]}"
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    report(f"building the proxy image {tag} (HAProxy on {base})")
    try:
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True, pull=False
        )
    except DockerBuildError as exc:
        tail = "\n".join(str(line.get("stream", line.get("error", ""))).rstrip() for line in exc.build_log)
        raise DeployError(
            f"could not build the proxy image on {base}: {exc.msg}",
            hint=f"the proxy installs Debian's haproxy on {base}; set MLSHIP_BASE_IMAGE or image.base "
            "to a local Debian-based image (scripts/base-image.sh builds one) and check its apt mirror",
            details=tail[-2000:],
        ) from None
    return tag


class Proxy:
    """The proxy container of one environment and its runtime API."""

    def __init__(self, client: Any, ctx: Context):
        self.client = client
        self.ctx = ctx

    def container(self) -> Any | None:
        from docker.errors import NotFound

        try:
            return self.client.containers.get(proxy_name(self.ctx))
        except NotFound:
            return None

    def ensure_network(self) -> str:
        name = network_name(self.ctx)
        if not self.client.networks.list(names=[name]):
            self.client.networks.create(
                name,
                driver="bridge",
                labels={labels.PROJECT: self.ctx.project, labels.ENVIRONMENT: self.ctx.environment},
            )
        return name

    def ensure(self, base: str) -> Any:
        """The running proxy container; created (publishing the service port) when there is none."""
        from docker.errors import APIError

        existing = self.container()
        if existing is not None:
            if existing.status != "running":
                existing.start()
                self._wait_socket(existing)
            return existing
        image = ensure_image(self.client, base, self.ctx.report)
        network = self.ensure_network()
        self.ctx.report(f"starting the proxy {proxy_name(self.ctx)} on port {self.ctx.public_port}")
        container = self.client.containers.create(
            image,
            name=proxy_name(self.ctx),
            detach=True,
            network=network,
            ports={f"{LISTEN_PORT}/tcp": self.ctx.public_port},
            labels={
                labels.PROJECT: self.ctx.project,
                labels.ENVIRONMENT: self.ctx.environment,
                ROLE: "proxy",
            },
            restart_policy={"Name": "unless-stopped"},
        )
        try:
            self._write_config(container, [])
            container.start()
        except APIError as exc:
            container.remove(force=True)  # a container that never started must not linger as `Created`
            raise port_error(self.ctx, str(exc)) from None
        self._wait_socket(container)
        return container

    def _wait_socket(self, container: Any) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.command("show info", container)
                return
            except DeployError:
                time.sleep(0.2)
        raise DeployError(f"the proxy {container.name} did not start", details=_logs(container))

    def _write_config(self, container: Any, servers: list[Server]) -> None:
        write_config(container, render_config(self.ctx, servers))

    def command(self, text: str, container: Any | None = None) -> str:
        """One runtime API command; its answer. An answer that reports an error raises DeployError."""
        container = container or self.container()
        if container is None:
            raise DeployError(f"the proxy {proxy_name(self.ctx)} is missing")
        code, output = container.exec_run(["sh", "-c", _CLIENT, "sh", text])
        answer = output.decode(errors="replace") if output else ""
        if code != 0:
            raise DeployError(f"the proxy's runtime API refused `{text}`: {answer.strip()[-300:]}")
        first = answer.strip().splitlines()[0] if answer.strip() else ""
        if not first.startswith("#") and any(w in first.lower() for w in _REFUSALS):
            raise DeployError(f"the proxy refused `{text}`: {answer.strip()[:300]}")
        return answer

    def servers(self) -> list[Server]:
        """The backend's servers with their state and counters (`show stat`)."""
        text = self.command("show stat -1 4 -1").lstrip("# ")
        found = []
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("pxname") != BACKEND or row.get("svname") in ("BACKEND", "FRONTEND", None):
                continue
            errors = sum(_int(row.get(k)) for k in ("hrsp_5xx", "eresp", "econ"))
            requests = sum(_int(row.get(f"hrsp_{n}xx")) for n in range(1, 6)) + _int(row.get("hrsp_other"))
            found.append(
                Server(
                    name=row["svname"],
                    address=row.get("addr", ""),
                    weight=_int(row.get("uweight") or row.get("weight")),
                    status=row.get("status", ""),
                    sessions=_int(row.get("scur")),
                    requests=requests + _int(row.get("eresp")) + _int(row.get("econ")),
                    errors=errors,
                    response_ms=_int(row.get("rtime")),
                )
            )
        return found

    def add(self, name: str, address: str, weight: int, timeout: float = 30.0) -> None:
        """Add a model that already answered /readyz; return once the proxy's own check sees it UP."""
        self.command(f"add server {BACKEND}/{name} {address} weight {weight} {SERVER_OPTIONS}")
        self.command(f"enable health {BACKEND}/{name}")
        self.command(f"set server {BACKEND}/{name} state ready")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = next((s for s in self.servers() if s.name == name), None)
            if server is not None and server.status.startswith("UP"):
                self.save()
                return
            time.sleep(0.1)
        self.remove(name, drain_timeout=0)
        raise DeployError(f"the proxy never saw {name} ready at {address} within {timeout:g}s")

    def set_weight(self, name: str, weight: int) -> None:
        self.command(f"set server {BACKEND}/{name} weight {weight}")

    def remove(self, name: str, drain_timeout: float) -> None:
        """Drain `name` (no new requests; those in flight finish), then take it out of the backend."""
        if not any(s.name == name for s in self.servers()):
            return
        self.command(f"set server {BACKEND}/{name} state drain")
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            server = next((s for s in self.servers() if s.name == name), None)
            if server is None or server.sessions == 0:
                break
            time.sleep(0.1)
        self.command(f"set server {BACKEND}/{name} state maint")
        self.command(f"shutdown sessions server {BACKEND}/{name}")
        # Still referenced for a moment: in maintenance it takes no traffic, and save() drops it.
        with contextlib.suppress(DeployError):
            self.command(f"del server {BACKEND}/{name}")
        self.save()

    def save(self) -> None:
        """Write the servers that take traffic into the proxy's config, for the next start."""
        container = self.container()
        if container is None:
            return
        keep = [s for s in self.servers() if not s.status.startswith("MAINT")]
        self._write_config(container, keep)


def write_config(container: Any, text: str) -> None:
    """Put `text` at CONFIG in a (created or running) proxy container."""
    data = text.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("haproxy.cfg")
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    container.put_archive(CONFIG.rsplit("/", 1)[0], buffer.getvalue())


def port_error(ctx: Context, detail: str) -> DeployError:
    return DeployError(
        f"port {ctx.public_port} is already taken on the docker host ({detail.strip()[:200]})",
        hint=f"free it or set environments.{ctx.environment}.port in mlship.yaml",
    )


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _logs(container: Any) -> str:
    try:
        return container.logs(tail=15).decode(errors="replace").strip()
    except Exception:  # the logs are only a courtesy in an error message
        return ""
