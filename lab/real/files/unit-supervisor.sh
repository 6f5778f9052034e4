#!/bin/bash
# kcarun real lab: runs one systemd unit of this node the way systemd would (there is no systemd in
# the lab). Reads /etc/systemd/system/UNIT.service and UNIT.service.d/*.conf at every start, like
# systemd after daemon-reload: Environment=, EnvironmentFile=[-], ExecStart= (an empty one resets;
# lines continued with a backslash, as the binary layout's units write it),
# RestartSec= (Restart=always is assumed). $VAR in ExecStart splits on whitespace, ${VAR} is one word.
# Driven by the node's systemctl (files in the node's run/units folder): UNIT.want holds started or
# stopped; UNIT.restart asks for an immediate restart; UNIT.pid is the main process while it runs.
set -u
LAB='@LAB_DIR@'
node="$(hostname)"
RUN="$LAB/nodes/$node/run/units"
LOGS="$LAB/nodes/$node/logs"
u="$1"
mkdir -p "$RUN" "$LOGS"
echo $$ > "$RUN/$u.supervisor.pid"
set -f # no globbing when ExecStart is split into words

note() { echo "$(date -u +%FT%T.%3NZ) supervisor: $*" >> "$LOGS/$u.log"; }

parse_unit() {
  declare -gA ENV=()
  EXEC=""; RESTART_SEC=0.1
  local files=() envfiles=() f line v a
  [ -f "/etc/systemd/system/$u.service" ] && files+=("/etc/systemd/system/$u.service")
  if [ -d "/etc/systemd/system/$u.service.d" ]; then
    set +f; for f in /etc/systemd/system/"$u".service.d/*.conf; do [ -f "$f" ] && files+=("$f"); done; set -f
  fi
  [ ${#files[@]} -gt 0 ] || return 1
  for f in "${files[@]}"; do
    local cont=""
    while IFS= read -r line || [ -n "$line" ]; do
      # a line ending in a backslash goes on on the next line (systemd.syntax(7))
      if [ "${line%\\}" != "$line" ]; then cont+="${line%\\} "; continue; fi
      line="$cont$line"; cont=""
      case "$line" in
        Environment=*)
          v="${line#Environment=}"
          eval "set -- $v"
          for a in "$@"; do ENV["${a%%=*}"]="${a#*=}"; done ;;
        EnvironmentFile=*) envfiles+=("${line#EnvironmentFile=}") ;;
        ExecStart=*) EXEC="${line#ExecStart=}" ;;
        RestartSec=*) RESTART_SEC="${line#RestartSec=}"; RESTART_SEC="${RESTART_SEC%s}" ;;
      esac
    done < "$f"
  done
  # EnvironmentFile= is read at start and wins over Environment=, as in systemd
  for f in "${envfiles[@]}"; do
    local optional=0; [ "${f:0:1}" = "-" ] && { optional=1; f="${f:1}"; }
    if [ ! -f "$f" ]; then [ $optional = 1 ] && continue; note "EnvironmentFile $f missing"; return 1; fi
    while IFS= read -r line || [ -n "$line" ]; do
      line="${line#"${line%%[![:space:]]*}"}"
      case "$line" in ''|'#'*|';'*) continue ;; esac
      v="${line#*=}"; v="${v#\"}"; v="${v%\"}"
      ENV["${line%%=*}"]="$v"
    done < "$f"
  done
  EXEC="${EXEC#[-@+!]}"
  [ -n "$EXEC" ]
}

build_argv() {
  ARGV=()
  local w name
  for w in $EXEC; do
    if [[ "$w" =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$ ]]; then
      name="${BASH_REMATCH[1]}"; [ -n "${ENV[$name]:-}" ] && ARGV+=("${ENV[$name]}")
    elif [[ "$w" =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
      name="${BASH_REMATCH[1]}"; for a in ${ENV[$name]:-}; do ARGV+=("$a"); done
    else
      ARGV+=("$w")
    fi
  done
}

want() { cat "$RUN/$u.want" 2>/dev/null || echo stopped; }

while true; do
  if [ "$(want)" != started ]; then sleep 0.2; continue; fi
  rm -f "$RUN/$u.restart"
  if ! parse_unit; then note "cannot read unit $u"; echo failed > "$RUN/$u.result"; sleep 1; continue; fi
  build_argv
  envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
  for k in "${!ENV[@]}"; do envs+=("$k=${ENV[$k]}"); done
  note "starting: ${ARGV[*]}"
  env -i "${envs[@]}" "${ARGV[@]}" >> "$LOGS/$u.log" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$RUN/$u.pid.tmp"; mv "$RUN/$u.pid.tmp" "$RUN/$u.pid"
  date -u +%FT%TZ > "$RUN/$u.since"
  wait "$pid"; rc=$?
  rm -f "$RUN/$u.pid"
  note "exited rc=$rc"
  echo "$rc" > "$RUN/$u.result"
  # Restart=always after RestartSec, at once on systemctl restart, not at all once stopped
  end=$(( $(date +%s%N) / 1000000 + $(awk "BEGIN{print int($RESTART_SEC*1000)}") ))
  while [ "$(want)" = started ] && [ ! -e "$RUN/$u.restart" ] && [ $(( $(date +%s%N) / 1000000 )) -lt $end ]; do sleep 0.1; done
done
