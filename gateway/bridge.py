"""The gateway's way onto the bus, run off the event loop.

nameko's standalone RPC proxy and kombu's publisher block, so they run in a small thread
pool. Each thread keeps its own RPC proxy (a proxy must never be shared between threads).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from amqp.exceptions import NotFound
from nameko.amqp.publish import UndeliverableMessage
from nameko.exceptions import RemoteError, RpcTimeout, get_module_path
from nameko.exceptions import registry as remote_exceptions
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from fengqiao.lifecycle import IllegalTransition

log = logging.getLogger("fengqiao.gateway.bridge")
# A refused state change crosses the RPC boundary as itself, with its state and allowed actions.
remote_exceptions[get_module_path(IllegalTransition)] = IllegalTransition


class BusUnavailable(RuntimeError):
    """The broker or the service did not answer: try again later."""


class PublishUncertain(BusUnavailable):
    """We waited for the broker's confirm and gave up: the message may or may not be queued."""


class RpcBridge:
    def __init__(self, nameko_config: dict, timeout: float, threads: int = 8):
        self._config = nameko_config
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="fq-rpc")
        self._local = threading.local()
        self._runners: list[ClusterRpcProxy] = []
        self._lock = threading.Lock()

    def _proxy(self):
        proxy = getattr(self._local, "proxy", None)
        if proxy is None:
            runner = ClusterRpcProxy(self._config, timeout=self._timeout)
            proxy = runner.start()
            self._local.runner, self._local.proxy = runner, proxy
            with self._lock:
                self._runners.append(runner)
        return proxy

    def _discard_proxy(self) -> None:
        runner = getattr(self._local, "runner", None)
        self._local.proxy = self._local.runner = None
        if runner is None:
            return
        with self._lock:
            self._runners.remove(runner)
        try:
            runner.stop()
        except Exception:  # the connection is already broken; nothing left to close cleanly
            log.debug("closing a broken RPC proxy failed", exc_info=True)

    def _call(self, service: str, method: str, args: tuple):
        try:
            return getattr(getattr(self._proxy(), service), method)(*args)
        except (RemoteError, IllegalTransition):  # the service answered: a refusal, not an outage
            raise
        except RpcTimeout as exc:
            self._discard_proxy()
            raise BusUnavailable(f"{service} did not answer within {self._timeout:.0f} s") from exc
        except Exception as exc:  # connection refused, reset, channel errors: the bus is down
            self._discard_proxy()
            raise BusUnavailable(f"cannot reach {service}: {exc}") from exc

    async def call(self, service: str, method: str, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, service, method, args)

    def close(self) -> None:
        with self._lock:
            runners, self._runners = self._runners, []
        for runner in runners:
            try:
                runner.stop()
            except Exception:
                log.debug("closing an RPC proxy failed", exc_info=True)
        self._executor.shutdown(wait=False, cancel_futures=True)


class EventPublisher:
    """Publishes gateway events with publisher confirms and the mandatory flag: returning
    normally means RabbitMQ has the message on at least one durable queue."""

    def __init__(self, nameko_config: dict, timeout: float, threads: int = 4):
        self._timeout = timeout
        self._dispatch = event_dispatcher(
            nameko_config, mandatory=True, use_confirms=True,
            retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5},
        )
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="fq-publish")

    def _publish(self, message: dict) -> None:
        kind = message["type"]
        try:
            self._dispatch(message["source"], kind, message)
        except (UndeliverableMessage, NotFound) as exc:
            # Unroutable, or the exchange itself is missing: the topology was never declared.
            raise BusUnavailable(f"no queue is bound for {kind}; run `fengqiao bus setup`") from exc
        except Exception as exc:
            raise BusUnavailable(f"cannot publish {kind}: {exc}") from exc

    async def publish_message(self, message: dict) -> None:
        """Publish an event envelope (``Event.to_message()``) and wait for the confirm."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._publish, message)
        try:
            await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except TimeoutError as exc:
            raise PublishUncertain(f"no confirm for {message['type']} within {self._timeout:.0f} s") from exc

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
