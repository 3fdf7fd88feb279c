"""MetaSchedule's RPC runner with a time limit that holds.

TVM 0.27's `RPCRunner` starts its worker pool without a timeout (`session_timeout_sec` only
reaches the tracker request), so a board that stops answering blocks tuning, and the
exit of the process, for ever. It also measures on a board served directly (`--rpc`):
MetaSchedule's runner only knows trackers. `BoundedRPCRunner` waits for each candidate at most
`timeout_sec` from this side and kills the worker process when the limit passes; the
candidate is then a failed measurement and tuning goes on.
"""
from __future__ import annotations

import concurrent.futures

from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.support.popen_pool import kill_child_processes

from edgemobilenet.backends.tvm import tvm_compat


def connect_direct(rpc_config: ms.runner.RPCConfig):
    """A session with the RPC server at the config's address (no tracker in between)."""
    from tvm import rpc

    return rpc.connect(rpc_config.tracker_host, rpc_config.tracker_port,
                       session_timeout=rpc_config.session_timeout_sec)


@derived_object
class BoundedFuture(ms.runner.PyRunnerFuture):
    """One candidate's measurement, given up after `timeout_sec`."""

    def __init__(self, inner, runner: "BoundedRPCRunner") -> None:
        super().__init__()
        self.inner = inner
        self.runner = runner

    def done(self) -> bool:
        return self.inner.done()

    def result(self) -> ms.runner.RunnerResult:
        try:  # wait; the worker's own errors are the inner future's to report
            self.inner.future.exception(timeout=self.runner.timeout_sec)
        except concurrent.futures.TimeoutError:
            self.runner.kill_workers()
            return ms.runner.RunnerResult(
                None, f"no answer from the board within {self.runner.timeout_sec:.0f} s "
                      f"(measurement worker killed)")
        return self.inner.result()


@derived_object
class BoundedRPCRunner(ms.runner.PyRunner):
    """`ms.runner.RPCRunner` whose every measurement ends within `timeout_sec`."""

    def __init__(self, rpc_config: ms.runner.RPCConfig,
                 evaluator_config: ms.runner.EvaluatorConfig, timeout_sec: float,
                 direct: bool = False) -> None:
        """`direct`: the config's tracker address is an RPC server's, connected directly."""
        super().__init__()
        self.rpc = ms.runner.RPCRunner(rpc_config, evaluator_config,
                                       f_create_session=connect_direct if direct else None)
        self.timeout_sec = timeout_sec

    def run(self, runner_inputs: list) -> list:
        # the Python runner's futures keep their Python attributes (tvm_compat)
        return [BoundedFuture(f, self)
                for f in tvm_compat.python_runner(self.rpc).run(runner_inputs)]

    def kill_workers(self) -> None:
        """Kill the pool's worker processes; the pool restarts them on the next candidate.

        Only the processes: the pool thread blocked reading the worker's pipe then gets
        end-of-file and cleans up itself (`PopenWorker.kill` from this thread would close
        that pipe under the reader's lock and deadlock).
        """
        for proc in tvm_compat.pool_worker_processes(self.rpc.pool):
            kill_child_processes(proc.pid)
            proc.kill()
