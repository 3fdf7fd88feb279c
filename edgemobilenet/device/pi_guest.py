"""Runs INSIDE the emulated Pi (the aarch64 root's Python under qemu-aarch64 with the
instruction-counting plugin): stdlib, numpy and the runtime being measured only, never
edgemobilenet. Regions are marked with the plugin's marker system call.

  infer RUNTIME MODEL N [INPUT.npy]   one warm-up inference, marker 1, N inferences,
                                      marker 2. RUNTIME: tvm (a Relax .so), litert,
                                      litert-noxnnpack, ort. Prints the last output
                                      (shape, dtype, sum, values when small) as JSON.
  kernels                             a worker: reads one JSON request per line
                                      {"id", "lib", "args": [...]} (and "func": a
                                      function of the library, else its entry), each
                                      argument a .npy file or [shape, dtype] (zeros),
                                      runs it once to warm up, then between markers
                                      2*id and 2*id+1; answers {"id", "ok"|"error"}.
One thread everywhere: the plugin's counter is exact for one running thread.
"""
import ctypes
import json
import os
import sys

import numpy as np

MARKER = int(os.environ.get("EDGEMB_MARKER", "17732"))
_libc = ctypes.CDLL(None, use_errno=True)


def mark(label: int) -> None:
    _libc.syscall(ctypes.c_long(MARKER), ctypes.c_long(label))


def _input(shape, dtype, path):
    if path:
        x = np.load(path, allow_pickle=False)
        return x.astype(dtype).reshape(shape)
    rng = np.random.default_rng(0)
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max + 1, size=shape, dtype=dtype)
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def kernel_arg(spec):
    """A `kernels` request's argument: the array in a .npy file, or zeros of [shape, dtype]
    (the activations and outputs a kernel gets when no values are given)."""
    if isinstance(spec, str):
        return np.load(spec, allow_pickle=False)
    shape, dtype = spec
    return np.zeros(shape, dtype=dtype)


def _tvm_runner(model, path):
    import tvm
    from tvm import relax

    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(model), dev)
    info = json.loads(os.environ["EDGEMB_INPUT"])     # {"shape": [...], "dtype": "int8"}
    vm.set_input("main", tvm.runtime.tensor(_input(info["shape"], info["dtype"], path), dev))

    def run():
        vm.invoke_stateful("main")
        out = vm.get_outputs("main")
        return out.numpy() if hasattr(out, "numpy") else out[0].numpy()
    return run


def _litert_runner(model, path, xnnpack):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {} if xnnpack else {
        "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    it = Interpreter(model_path=model, num_threads=1, **kw)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(inp["index"], _input(inp["shape"], inp["dtype"], path))

    def run():
        it.invoke()
        return it.get_tensor(out["index"])
    return run


def _ort_runner(model, path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    dtype = {"tensor(float)": np.float32, "tensor(int8)": np.int8,
             "tensor(uint8)": np.uint8}[i.type]
    shape = [d if isinstance(d, int) else 1 for d in i.shape]
    feed = {i.name: _input(shape, dtype, path)}
    return lambda: s.run(None, feed)[0]


def infer(runtime, model, n, path=None):
    run = {"tvm": lambda: _tvm_runner(model, path),
           "litert": lambda: _litert_runner(model, path, True),
           "litert-noxnnpack": lambda: _litert_runner(model, path, False),
           "ort": lambda: _ort_runner(model, path)}[runtime]()
    y = run()          # warm-up: lazy allocation, packing, delegate set-up
    mark(1)
    for _ in range(n):
        y = run()
    mark(2)
    y = np.asarray(y)
    doc = {"shape": list(y.shape), "dtype": str(y.dtype), "sum": float(y.astype(np.float64).sum())}
    if y.size <= 4096:
        doc["values"] = y.reshape(-1).tolist()
    print(json.dumps(doc), flush=True)


def kernels():
    import tvm

    dev = tvm.cpu()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            mod = tvm.runtime.load_module(req["lib"])
            if "func" in req:
                f = mod[req["func"]]
            else:
                f = mod[mod.entry_name] if getattr(mod, "entry_name", None) else mod["main"]
            args = [tvm.runtime.tensor(kernel_arg(a), dev) for a in req["args"]]
            f(*args)
            mark(2 * req["id"])
            f(*args)
            mark(2 * req["id"] + 1)
            reply = {"id": req["id"], "ok": True}
        except Exception as e:  # a bad candidate is an answer, the worker goes on
            reply = {"id": req["id"], "error": f"{type(e).__name__}: {e}"[:300]}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "infer":
        infer(sys.argv[2], sys.argv[3], int(sys.argv[4]),
              sys.argv[5] if len(sys.argv) > 5 else None)
    elif sys.argv[1] == "kernels":
        kernels()
    else:
        sys.exit(f"pi_guest: unknown mode {sys.argv[1]}")
