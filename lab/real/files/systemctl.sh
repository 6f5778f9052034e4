#!/bin/bash
# kcarun real lab: systemctl for a lab node (there is no systemd). Drives the node's unit supervisors
# (kcarun-lab-unit-supervisor) for the units in /etc/systemd/system (containerd, the kubelet; the
# binary layout's etcd and control plane too).
# Verbs: start stop restart try-restart reload-or-restart is-active is-enabled is-failed enable disable
# status show daemon-reload list-units list-unit-files.
set -u
LAB='@LAB_DIR@'
node="$(hostname)"
RUN="$LAB/nodes/$node/run/units"
verb=""; units=(); props=(); value=0; now=0; quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    -q|--quiet) quiet=1 ;;
    --now) now=1 ;;
    --value) value=1 ;;
    -p|--property) shift; props+=("${1//,/ }") ;;
    --property=*) props+=("${1#--property=}") ;;
    --no-pager|--no-block|--system|-l|--full|--no-legend|--plain|--no-ask-password|--type=*|--all|-a|--state=*) ;;
    -*) ;;
    *) if [ -z "$verb" ]; then verb="$1"; else units+=("${1%.service}"); fi ;;
  esac
  shift
done
say() { [ $quiet = 1 ] || echo "$@"; }
known() { [ -f "/etc/systemd/system/$1.service" ] && [ -e "$RUN/$1.supervisor.pid" ]; }
mainpid() { local p; p="$(cat "$RUN/$1.pid" 2>/dev/null)" || { echo 0; return; }; [ -d "/proc/$p" ] && echo "$p" || echo 0; }
active() { [ "$(mainpid "$1")" != 0 ]; }
wait_started() { # a unit that dies within 1 s fails the start, as Type=simple units do not, but the lab's callers want to know
  local u=$1 old=${2:-0} i
  for i in $(seq 1 100); do local p; p="$(mainpid "$u")"; if [ "$p" != 0 ] && [ "$p" != "$old" ]; then return 0; fi; sleep 0.1; done
  echo "Job for $u.service failed because the control process exited with error code." >&2; return 1
}
stop_unit() {
  local u=$1 p i; echo stopped > "$RUN/$u.want"; p="$(mainpid "$u")"; [ "$p" = 0 ] && return 0
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 1 900); do [ -d "/proc/$p" ] && [ "$(mainpid "$u")" = "$p" ] || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null; return 0
}
rc=0
case "$verb" in
  daemon-reload|daemon-reexec|reset-failed) exit 0 ;;
  list-units|list-unit-files)
    for f in /etc/systemd/system/*.service; do [ -f "$f" ] || continue; u="$(basename "$f" .service)"; known "$u" || continue
      if active "$u"; then echo "$u.service loaded active running"; else echo "$u.service loaded inactive dead"; fi; done; exit 0 ;;
esac
[ ${#units[@]} -gt 0 ] || { echo "systemctl: $verb needs a unit" >&2; exit 1; }
for u in "${units[@]}"; do
  if ! known "$u"; then
    case "$verb" in
      is-active|is-failed) say inactive; rc=3; continue ;;
      is-enabled) echo "Failed to get unit file state for $u.service: No such file or directory" >&2; rc=1; continue ;;
      show) # as systemd: a unit it does not know is shown as not loaded and inactive, exit 0
        [ ${#props[@]} -gt 0 ] || props=(Id LoadState ActiveState)
        for pp in ${props[*]}; do
          case "$pp" in Id) v="$u.service" ;; LoadState) v=not-found ;; MainPID) v=0 ;; ActiveState) v=inactive ;; SubState) v=dead ;; *) v="" ;; esac
          if [ $value = 1 ]; then echo "$v"; else echo "$pp=$v"; fi
        done; continue ;;
      status) echo "Unit $u.service could not be found." >&2; rc=4; continue ;;
      *) echo "Failed to $verb $u.service: Unit $u.service not found." >&2; rc=5; continue ;;
    esac
  fi
  case "$verb" in
    start) echo started > "$RUN/$u.want"; active "$u" || wait_started "$u" || rc=1 ;;
    stop) stop_unit "$u" ;;
    restart|try-restart|reload-or-restart|force-reload|reload)
      if [ "$verb" = try-restart ] && ! active "$u"; then continue; fi
      old="$(mainpid "$u")"; touch "$RUN/$u.restart"; echo started > "$RUN/$u.want"
      if [ "$old" != 0 ]; then
        # as systemd: the stop first, SIGTERM then SIGKILL after TimeoutStopSec (90 s by default); a
        # real kube-apiserver's graceful stop takes seconds, ~20 s on a loaded machine
        kill -TERM "$old" 2>/dev/null
        for i in $(seq 1 900); do [ -d "/proc/$old" ] || break; sleep 0.1; done
        [ -d "/proc/$old" ] && kill -KILL "$old" 2>/dev/null
      fi
      wait_started "$u" "$old" || rc=1 ;;
    enable) touch "$RUN/$u.enabled"; [ $now = 1 ] && { echo started > "$RUN/$u.want"; active "$u" || wait_started "$u" || rc=1; } ;;
    disable) rm -f "$RUN/$u.enabled"; [ $now = 1 ] && stop_unit "$u" ;;
    is-enabled) if [ -e "$RUN/$u.enabled" ]; then say enabled; else say disabled; rc=1; fi ;;
    is-active) if active "$u"; then say active; else say inactive; rc=3; fi ;;
    is-failed) if active "$u"; then say active; rc=1; else say failed; fi ;;
    status)
      p="$(mainpid "$u")"
      echo "● $u.service - $u (kcarun lab unit supervisor)"
      echo "     Loaded: loaded (/etc/systemd/system/$u.service; $([ -e "$RUN/$u.enabled" ] && echo enabled || echo disabled))"
      if [ "$p" != 0 ]; then echo "     Active: active (running) since $(cat "$RUN/$u.since" 2>/dev/null)"; echo "   Main PID: $p"
      else echo "     Active: inactive (dead)"; rc=3; fi ;;
    show)
      p="$(mainpid "$u")"
      [ ${#props[@]} -gt 0 ] || props=(Id MainPID ActiveState SubState)
      for pp in ${props[*]}; do
        case "$pp" in
          Id) v="$u.service" ;; LoadState) v=loaded ;; MainPID) v="$p" ;;
          ActiveState) v="$([ "$p" != 0 ] && echo active || echo inactive)" ;;
          SubState) v="$([ "$p" != 0 ] && echo running || echo dead)" ;;
          UnitFileState) v="$([ -e "$RUN/$u.enabled" ] && echo enabled || echo disabled)" ;;
          ExecMainStartTimestamp) v="$(cat "$RUN/$u.since" 2>/dev/null)" ;;
          *) v="" ;;
        esac
        if [ $value = 1 ]; then echo "$v"; else echo "$pp=$v"; fi
      done ;;
    *) echo "systemctl (kcarun lab): verb $verb not supported" >&2; rc=1 ;;
  esac
done
exit $rc
