#!/usr/bin/env bash
# GPU host: the process limits that bear on thread creation (issue 13 / 11: civetweb's "Cannot
# create first worker thread" inside mamba-explaind after CUDA initialised), one short report.
#   source .device/env.sh && bash tools/gpu_limits_probe.sh
echo "ulimit -a:"; ulimit -a | sed 's/^/  /'
for f in /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids.current /sys/fs/cgroup/memory.max \
  /proc/sys/kernel/threads-max /proc/sys/kernel/pid_max /proc/sys/vm/overcommit_memory \
  /proc/sys/vm/max_map_count; do
  [ -r "$f" ] && echo "$f: $(cat "$f")"
done
echo "threads of all processes: $(ps -eLf 2>/dev/null | wc -l)"
