#!/bin/sh
# Prints what an installer would check on a host before delivery.
set -eu
echo "kernel: $(uname -r)"
echo "memory: $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
