#!/usr/bin/env bash
# Prints what to set so that an htga installed under PREFIX is found by
# pkg-config, the dynamic linker and Debian's /usr/bin/python3, one
# `export` line each; nothing when their default search paths cover it
# (/usr and /usr/local on Debian). meson.build runs it at set-up and shows
# the lines in its summary.
# Usage: install-hints.sh LIBDIR PYTHONDIR   (absolute paths)
set -u
libdir=${1%/}
pydir=${2%/}
in_list() { # in_list DIR "DIR:DIR..." (colons or newlines)
    tr ':' '\n' <<<"$2" | grep -qx "$1"
}
pcpath=$(pkg-config --variable pc_path pkg-config 2>/dev/null)
if ! in_list "$libdir/pkgconfig" "$pcpath" && ! in_list "$libdir/pkgconfig" "${PKG_CONFIG_PATH:-}"; then
    echo "export PKG_CONFIG_PATH=$libdir/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}"
fi
lddirs=$(printf '%s\n' /lib /usr/lib; cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null | grep '^/')
if ! in_list "$libdir" "$lddirs" && ! in_list "$libdir" "${LD_LIBRARY_PATH:-}"; then
    echo "export LD_LIBRARY_PATH=$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
fi
if [ -n "$pydir" ] && [ -x /usr/bin/python3 ] &&
    ! /usr/bin/python3 -c 'import sys; sys.exit(0 if sys.argv[1] in sys.path else 1)' "$pydir"; then
    echo "export PYTHONPATH=$pydir\${PYTHONPATH:+:\$PYTHONPATH}"
fi
exit 0
