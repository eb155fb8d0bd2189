#!/usr/bin/python3
"""What `meson install` would do, checked without installing: the Python
package goes to a directory on /usr/bin/python3's sys.path when the prefix
is one it searches (/usr/local, /usr), and htga.pc gives `--cflags` with no
flags of libzmq's dependencies (htga.h includes no ZeroMQ header).

Usage: install_test.py BUILD_ROOT
"""
import json
import os
import subprocess
import sys

build = sys.argv[1]
installed = json.load(open(os.path.join(build, "meson-info", "intro-installed.json"))).values()
opts = {o["name"]: o["value"] for o in json.load(open(os.path.join(build, "meson-info", "intro-buildoptions.json")))}
prefix = opts["prefix"]
init = [p for p in installed if p.endswith("/htga/__init__.py")]
assert len(init) == 1, f"htga/__init__.py installed {len(init)} times: {init}"
site = os.path.dirname(os.path.dirname(init[0]))
path = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('\\n'.join(sys.path))"],
                      capture_output=True, text=True, check=True).stdout.split()
if prefix in ("/usr/local", "/usr"):
    assert site in path, f"the package goes to {site}, not on /usr/bin/python3's sys.path {path}"
pc = [p for p in installed if p.endswith("/htga.pc")]
assert len(pc) == 1, pc
env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(build, "meson-private"))
cflags = subprocess.run(["pkg-config", "--cflags", "htga"], env=env, capture_output=True, text=True,
                        check=True).stdout.split()
assert cflags == [f"-I{prefix}/include"], f"pkg-config --cflags htga: {cflags}"
libs = subprocess.run(["pkg-config", "--libs", "htga"], env=env, capture_output=True, text=True,
                      check=True).stdout.split()
assert "-lhtga" in libs and not any("zmq" in x for x in libs), f"pkg-config --libs htga: {libs}"
print(f"python package to {site} (on sys.path); pkg-config --cflags: {' '.join(cflags)}")
