#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A data loader in the shape of PyTorch's: the parent registers its batch
buffers for DMA, then forks worker processes that read them.

The program knows nothing about pinguard. It pins its buffers the way a
native extension would, with liburing's io_uring_register_buffers() (fixed
buffers: long-term pins, like ibv_reg_mr()), called through the process's
global symbol scope so that a preloaded pinguard's wrapper is the one found.
Run it under pinguard:

    pinguard run --mode copy -- python3 dataloader.py

Workers are forked *after* registration and each reads its shard. The
parent then writes the next batch into the same buffers (what a device
would DMA from) and only then lets the workers read:

  * copy mode: every worker reads the fork-time data (its private copy),
    the parent keeps its pinned pages and sees its new data. Exit 0.
  * dontfork mode (and rdma-core's ibv_fork_init() / RDMAV_FORK_SAFE=1,
    which frameworks often set): the registered pages are MADV_DONTFORK,
    the workers have no mapping there and die with SIGSEGV on their first
    read. `--expect-crash` checks exactly that (exit 0 if every worker
    got SIGSEGV), to show why copy mode exists.
  * no pinguard, kernel without early COW (before 5.9, or a distribution
    kernel without the backport): the parent's first write after fork gets
    a new page while the device keeps the old one, now shared with the
    workers: the device sends stale data, silently.

Without liburing, it declares the buffers with pinguard_pin() if pinguard is
loaded. Exit status: 0 ok, 1 failure, 77 skipped (nothing to pin with).
"""

import argparse
import ctypes
import mmap
import multiprocessing
import os
import signal
import struct
import sys
import zlib

NBUF = 4
BUFLEN = 2 << 20
RECORD = struct.Struct("<iI")      # worker index, crc32 of its shard


class Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def pinguard_symbol(name):
    """A pinguard function if the library is loaded (preloaded), else None."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except AttributeError:
        return None


def register(addrs):
    """Pin the buffers; return (how, release function), or None."""
    scope = ctypes.CDLL(None)
    try:
        # RTLD_GLOBAL, then look up through the global scope: the preloaded
        # wrapper comes first, as for a program linked against liburing.
        ctypes.CDLL("liburing.so.2", mode=ctypes.RTLD_GLOBAL)
        ring = ctypes.create_string_buffer(4096)   # >= sizeof(struct io_uring)
        if scope.io_uring_queue_init(8, ring, 0) == 0:
            iov = (Iovec * len(addrs))(*(Iovec(a, BUFLEN) for a in addrs))
            ret = scope.io_uring_register_buffers(ring, iov, len(addrs))
            if ret:
                raise SystemExit(f"dataloader: io_uring_register_buffers: "
                                 f"{os.strerror(-ret)}")

            def release():
                scope.io_uring_unregister_buffers(ring)
                scope.io_uring_queue_exit(ring)
            return "io_uring fixed buffers", release
    except (OSError, AttributeError):
        pass                        # no liburing, or io_uring not allowed
    pin, unpin = pinguard_symbol("pinguard_pin"), pinguard_symbol("pinguard_unpin")
    if not pin:
        return None
    for a in addrs:
        ret = pin(ctypes.c_void_p(a), ctypes.c_size_t(BUFLEN), 0)
        if ret:
            raise SystemExit(f"dataloader: pinguard_pin: {os.strerror(-ret)}")

    def release():
        for a in addrs:
            unpin(ctypes.c_void_p(a), ctypes.c_size_t(BUFLEN))
    return "pinguard_pin() declarations", release


def worker(idx, buf, go_fd, out_fd):
    """Wait until the parent has written the next batch, then read the shard
    (under dontfork this read is the SIGSEGV)."""
    os.read(go_fd, 1)
    os.write(out_fd, RECORD.pack(idx, zlib.crc32(buf)))


def start(use_os_fork, target, args):
    """Fork a worker: multiprocessing's 'fork' context (what DataLoader uses
    on Linux) or a bare os.fork(). Returns a wait() function giving the
    exit code, negative for a signal as in multiprocessing."""
    if use_os_fork:
        pid = os.fork()
        if pid == 0:
            try:
                target(*args)
            finally:
                os._exit(0)

        def wait():
            status = os.waitpid(pid, 0)[1]
            return (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                    else os.WEXITSTATUS(status))
        return wait
    proc = multiprocessing.get_context("fork").Process(target=target, args=args)
    proc.start()

    def wait():
        proc.join()
        return proc.exitcode
    return wait


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect-crash", action="store_true",
                        help="expect every worker to die with SIGSEGV "
                             "(run under --mode dontfork)")
    parser.add_argument("--os-fork", action="store_true",
                        help="fork workers with os.fork(), not multiprocessing")
    opts = parser.parse_args()

    # Private anonymous memory: what the fork-with-pinned-pages bug is about
    # (Python's default for anonymous mmap is MAP_SHARED, which is immune).
    bufs = [mmap.mmap(-1, BUFLEN, flags=mmap.MAP_PRIVATE) for _ in range(NBUF)]
    views = [ctypes.c_char.from_buffer(b) for b in bufs]
    addrs = [ctypes.addressof(v) for v in views]
    for i, b in enumerate(bufs):
        b[:] = bytes([0x10 + i]) * BUFLEN          # batch 0
    fork_time = [zlib.crc32(b) for b in bufs]

    reg = register(addrs)
    if reg is None:
        print("dataloader: no liburing and pinguard not loaded, skipped")
        return 77
    how, release = reg
    pin_count = pinguard_symbol("pinguard_pin_count")
    if pin_count:
        counts = [pin_count(ctypes.c_void_p(a)) for a in addrs]
        if min(counts) < 1:
            print(f"dataloader: pinguard loaded but did not see the {how}")
            return 1
        print(f"dataloader: {NBUF} x {BUFLEN >> 20} MiB as {how}, "
              f"pinguard pin counts {counts}")
    else:
        print(f"dataloader: {NBUF} x {BUFLEN >> 20} MiB as {how}, "
              f"pinguard not loaded")
    sys.stdout.flush()              # not flushed twice by the children

    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    waits = [start(opts.os_fork, worker, (i, bufs[i], go_r, out_w))
             for i in range(NBUF)]
    os.close(out_w)                 # EOF once every worker is gone

    for i, b in enumerate(bufs):
        b[:] = bytes([0xa0 + i]) * BUFLEN          # batch 1, after fork
    mine = [zlib.crc32(b) for b in bufs]
    expected_new = [zlib.crc32(bytes([0xa0 + i]) * BUFLEN) for i in range(NBUF)]
    os.write(go_w, b"g" * NBUF)

    seen = {}
    data = b""
    while chunk := os.read(out_r, 4096):
        data += chunk
    for off in range(0, len(data) - len(data) % RECORD.size, RECORD.size):
        idx, crc = RECORD.unpack_from(data, off)
        seen[idx] = crc
    codes = [w() for w in waits]
    release()
    del views                       # drop the exports before unmapping
    for b in bufs:
        b.close()

    ok = mine == expected_new
    if not ok:
        print("dataloader: the parent lost its own writes after fork")
    if opts.expect_crash:
        crashed = all(c == -signal.SIGSEGV for c in codes)
        print(f"dataloader: worker exit codes {codes}: "
              f"{'every worker got SIGSEGV, as expected' if crashed else 'expected SIGSEGV'}")
        return 0 if ok and crashed else 1
    for i in range(NBUF):
        if codes[i] != 0 or i not in seen:
            print(f"dataloader: worker {i} failed (exit code {codes[i]})")
            ok = False
        elif seen[i] != fork_time[i]:
            what = ("the parent's post-fork" if seen[i] == expected_new[i]
                    else "corrupt")
            print(f"dataloader: worker {i} read {what} data")
            ok = False
    print(f"dataloader: {'workers read their fork-time data, the parent its new data' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
