#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that a directory's files keep the layers its README.md declares.

  check_layers.py README.md SRCDIR OBJDIR [OBJDIR...]

README.md holds a table whose rows read `| N name | `a.c` `b.c` | ... |`
(after a line containing "layers:"). The object files (*.c.o, found under
each OBJDIR) are read with nm: a file may call into its own layer or the
ones below, never above; the call graph between files has no cycle; every
.c file of SRCDIR is in the table. Exit 0 when all hold, 1 with one line
per violation, 77 (skip) when nm or the objects are missing.
"""
import os
import re
import shutil
import subprocess
import sys


def layers_of(readme):
    """{file: (rank, name)} from the table after the 'layers:' marker."""
    table, seen = {}, False
    with open(readme) as f:
        for line in f:
            if 'layers:' in line:
                seen = True
                continue
            m = re.match(r'\|\s*(\d+)\s+([\w-]+)\s*\|([^|]*)\|', line)
            if seen and m:
                for name in re.findall(r'`([\w.]+\.c)`', m.group(3)):
                    table[name] = (int(m.group(1)), m.group(2))
    return table


def symbols(obj):
    """(defined, undefined) global symbols of one object file."""
    out = subprocess.run(['nm', obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'TDBRVWGSC':
            defined.add(p[2])
        elif len(p) == 2 and p[0] in ('U', 'w'):
            undefined.add(p[1])
    return defined, undefined


def objects(objdir, srcname):
    """{source file name: object path} of one target's private directory.
    meson names an object after its source path relative to the target's
    directory, '/' as '_': pin.c.o, or .._.._lib_pin.c.o from elsewhere."""
    objs = {}
    for root, _, files in os.walk(objdir):
        for f in files:
            if f.endswith('.c.o'):
                src = re.sub(r'^(\.\._)*' + re.escape(srcname) + '_', '',
                             f[:-2])
                objs[src] = os.path.join(root, f)
    return objs


def check(table, objs, objdir):
    """Violations among one target's objects."""
    errors = []
    defs, undefs = {}, {}
    for src, obj in objs.items():
        defs[src], undefs[src] = symbols(obj)
    owner = {}
    for src, d in defs.items():
        for s in d:
            owner.setdefault(s, src)
    graph = {src: {} for src in objs}
    for src, u in undefs.items():
        for s in u:
            o = owner.get(s)
            if o and o != src:
                graph[src].setdefault(o, []).append(s)
    for src, calls in sorted(graph.items()):
        for dst, syms in sorted(calls.items()):
            if src in table and dst in table and \
                    table[dst][0] > table[src][0]:
                errors.append(
                    f'{src} (layer {table[src][0]} {table[src][1]}) uses '
                    f'{dst} (layer {table[dst][0]} {table[dst][1]}): '
                    f'{", ".join(sorted(syms)[:4])}')
    # cycles: depth-first search over the file graph
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, {})):
            if state.get(m) == 1:
                errors.append('cycle: ' +
                              ' -> '.join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    print(f'{objdir}: {len(objs)} files, '
          f'{sum(len(c) for c in graph.values())} file-to-file uses')
    return errors


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    readme, srcdir, objdirs = argv[1], argv[2], argv[3:]
    if not shutil.which('nm'):
        print('SKIP: nm (binutils) not installed')
        return 77
    table = layers_of(readme)
    if not table:
        print(f'FAIL: no layer table in {readme}')
        return 1
    errors = []
    for f in sorted(os.listdir(srcdir)):
        if f.endswith('.c') and f not in table:
            errors.append(f'{f}: not in the layer table of {readme}')
    checked = 0
    for d in objdirs:
        objs = objects(d, os.path.basename(os.path.normpath(srcdir)))
        if objs:
            checked += 1
            errors += check(table, objs, d)
    if not checked:
        print(f'SKIP: no object files under {" ".join(objdirs)}')
        return 77
    for e in errors:
        print('FAIL: ' + e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
