"""The autoscaler: a loop per Function (a kopf daemon) applying ``kfn.scaling.desired_replicas`` to the
load the gateways report, written through the Deployment's scale subresource.

The gateways' ``GET /stats`` are read once per interval for all Functions (``StatsReader``) and
summed; the peak in-flight is remembered over ``stable_window`` so a burst between two reads is
not forgotten. A gateway that does not answer skips the decision: the autoscaler never scales
down on missing data. A decision to go down is taken on stats read after the scale was read, so a
gateway's activator that has just scaled up (it counts the waiting request first) is never undone.
A Function with ``spec.replicas`` (``kubectl scale function``) is held at that count instead.
The gateway replicas are found by DNS before every read (the chart's headless Service resolves to
the ready gateway pods), so scaling the gateway needs no operator restart.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import socket
import time
from typing import Any, Iterable, Mapping

import aiohttp
import kopf

from kfn import api, scaling
from kfn_operator import builders, context, kube
from kfn_operator.functions import NotReady, parse
from kfn_operator.metrics import Metrics
from kfn_operator.settings import OperatorSettings

__all__ = ["GatewayStats", "aggregate", "stats_urls", "PeakWindows", "StatsReader", "register"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GatewayStats:
    in_flight: int
    peak_in_flight: int
    last_request_age: float | None
    """Seconds since the last request reached any gateway; None if none did."""


def aggregate(reports: Iterable[Mapping[str, Any]]) -> dict[str, GatewayStats]:
    """Sum the gateways' reports per function (in-flight and peaks add up, the newest request wins)."""
    total: dict[str, GatewayStats] = {}
    for report in reports:
        for key, entry in (report.get("functions") or {}).items():
            age = entry.get("lastRequestAgeSeconds")
            prev = total.get(key, GatewayStats(0, 0, None))
            ages = [a for a in (prev.last_request_age, age) if a is not None]
            total[key] = GatewayStats(prev.in_flight + int(entry.get("inFlight", 0)),
                                      prev.peak_in_flight + int(entry.get("peakInFlight", 0)),
                                      min(ages) if ages else None)
    return total


def stats_urls(addresses: Iterable[str], port: int) -> list[str]:
    """The base URLs of the distinct ``addresses`` on ``port`` (IPv6 in brackets). Pure."""
    return [f"http://[{a}]:{port}" if ":" in a else f"http://{a}:{port}" for a in sorted(set(addresses))]


class PeakWindows:
    """The highest peak seen per function over the last ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.samples: dict[str, collections.deque[tuple[float, int]]] = {}

    def observe(self, key: str, now: float, peak: int) -> int:
        samples = self.samples.setdefault(key, collections.deque())
        samples.append((now, peak))
        while samples and samples[0][0] < now - self.window:
            samples.popleft()
        return max(p for _, p in samples)


class StatsReader:
    """Reads every gateway's ``/stats``, at most once per ``max_age`` seconds for all functions."""

    def __init__(self, settings: OperatorSettings, session: aiohttp.ClientSession, metrics: Metrics) -> None:
        self.settings = settings
        self.session = session
        self.metrics = metrics
        self.windows = PeakWindows(settings.stable_window)
        self.lock = asyncio.Lock()
        self.read_at = float("-inf")
        self.latest: dict[str, GatewayStats] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.stats_urls) or self.settings.stats_dns is not None

    async def urls(self) -> list[str]:
        """Every gateway replica to read: the static URLs and what the DNS name resolves to now.
        Raises OSError when the name does not resolve (no data: decisions wait)."""
        urls = list(self.settings.stats_urls)
        if self.settings.stats_dns is not None:
            host, port = self.settings.stats_dns
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
            except socket.gaierror:  # an IPv6-only cluster; never both: a dual-stack pod would count twice
                infos = await loop.getaddrinfo(host, port, family=socket.AF_INET6, type=socket.SOCK_STREAM)
            urls += stats_urls((str(info[4][0]) for info in infos), port)
        return urls

    async def _fetch(self, url: str) -> Mapping[str, Any]:
        async with self.session.get(f"{url}/stats?reset=1",
                                    timeout=aiohttp.ClientTimeout(total=self.settings.stats_timeout)) as resp:
            resp.raise_for_status()
            report: Mapping[str, Any] = await resp.json()
            return report

    async def read(self, max_age: float) -> dict[str, GatewayStats] | None:
        """The summed stats, None when a gateway could not be read."""
        async with self.lock:
            if time.monotonic() - self.read_at <= max_age:
                return self.latest
            began = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.stats_timeout):  # a resolver that hangs is missing data
                    urls = await self.urls()
                if not urls:
                    raise ValueError("no gateway replica to read")
                reports = await asyncio.gather(*(self._fetch(url) for url in urls))
                self.latest = aggregate(reports)
                self.metrics.gateways.set(len(urls))
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                logger.warning("cannot read the gateways' stats (%r); scaling decisions wait", exc)
                self.latest = None
            self.read_at = began
            self.metrics.stats_reads.labels("ok" if self.latest is not None else "failed").inc()
            self.metrics.stats_duration.observe(time.monotonic() - began)
            return self.latest


def decide(fn: api.Function, stats: GatewayStats, peak: int, replicas: int, now: float) -> int:
    last = None if stats.last_request_age is None else now - stats.last_request_age
    return scaling.desired_replicas(
        scaling.ScalingStats(in_flight=stats.in_flight, peak_in_flight=peak, last_request_at=last, replicas=replicas),
        fn.spec, now)


async def autoscale(body: kopf.Body, memo: Any, logger: kopf.Logger, **_: Any) -> str:
    """One decision for one Function; returns what it did (one of ``metrics.SCALE_ACTIONS``)."""
    ctx = context.of(memo)
    try:
        fn = parse(body)
    except NotReady:
        return "skipped"
    path = kube.paths.apps(fn.namespace, "deployments", builders.child_name(fn)) + "/scale"
    scale = await ctx.api.get(path)
    if scale is None:
        return "skipped"
    current = int(scale.get("spec", {}).get("replicas") or 0)
    if fn.spec.replicas is not None:
        wanted = fn.spec.replicas
    elif not ctx.stats.enabled:
        wanted = max(current, fn.spec.scaling.min_replicas)
    else:
        stats = await ctx.stats.read(max_age=ctx.settings.autoscale_interval / 2)
        if stats is None:
            return "skipped"
        now = time.monotonic()
        entry = stats.get(fn.key, GatewayStats(0, 0, None))
        peak = ctx.stats.windows.observe(fn.key, now, entry.peak_in_flight)
        wanted = decide(fn, entry, peak, current, now)
        if wanted < current:
            fresh = await ctx.stats.read(max_age=0)  # read after the scale: see any activation under way
            if fresh is None:
                return "skipped"
            entry = fresh.get(fn.key, GatewayStats(0, 0, None))
            wanted = max(wanted, decide(fn, entry, max(peak, entry.peak_in_flight), current, time.monotonic()))
    held = "pinned" if fn.spec.replicas is not None else "hold"
    if wanted == current:
        return held
    try:
        await ctx.api.patch(path, {"metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
                                   "spec": {"replicas": wanted}})
    except kube.ApiError as exc:
        if exc.status == 409:
            return "conflict"  # changed meanwhile (an activator): decide again on the next tick
        raise
    logger.info("scaled %s from %d to %d replicas", fn.key, current, wanted)
    if held == "pinned":
        return held
    return "up" if wanted > current else "down"


async def autoscaler(body: kopf.Body, memo: Any, logger: kopf.Logger, stopped: kopf.DaemonStopped,
                     **_: Any) -> None:
    """One loop per Function (a kopf daemon, so stopping the operator cancels it cleanly)."""
    ctx = context.of(memo)
    interval = ctx.settings.autoscale_interval
    while not stopped:
        try:
            action = await autoscale(body=body, memo=memo, logger=logger)
        except kube.ApiError as exc:
            logger.warning("autoscaling skipped: %s", exc)
            action = "error"
        except Exception:  # a bug in one decision must not stop scaling this function for good
            logger.exception("autoscaling failed")
            action = "error"
        ctx.metrics.autoscale.labels(action).inc()
        await asyncio.sleep(interval)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    kopf.daemon(api.GROUP, api.VERSION, "functions", registry=registry, id="autoscale",
                cancellation_timeout=5.0)(autoscaler)
