# Shared by scripts/bench and scripts/soak (sourced, not run): tools, the Python venv, the
# release build, process clean-up, the fake Clerk and the server in production configuration.
# The sourcing script sets ROOT, script_name, server_cpu, client_cpu, build and keep first.

log() { printf '%s\n' "$*" >&2; }
die() {
  log "$script_name: $*"
  exit 1
}

# taskset, curl and wrk (installed with apt-get when running as root), and the two CPUs.
check_tools() {
  command -v taskset >/dev/null || die "taskset is missing (Debian package util-linux)"
  command -v curl >/dev/null || die "curl is missing"
  if ! { taskset -c "$server_cpu" true && taskset -c "$client_cpu" true; } 2>/dev/null; then
    die "cannot pin to CPUs $server_cpu and $client_cpu (set BENCH_SERVER_CPU / BENCH_CLIENT_CPU)"
  fi
  ensure_tool wrk
}

# A command from the Debian package of the same name, installed with apt-get when running as root.
ensure_tool() { # command
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "$1 is missing: apt-get install -y $1"
    apt-get install -y "$1" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$1" >/dev/null; } ||
      die "could not install $1"
  else
    die "$1 is missing: install it (Debian/Ubuntu: sudo apt-get install -y $1)"
  fi
}

# target/bench-venv with bench/requirements.txt, rebuilt when the requirements change.
venv=target/bench-venv
ensure_venv() {
  if ! cmp -s bench/requirements.txt "$venv/.requirements.txt" 2>/dev/null; then
    log "Python venv: $venv (bench/requirements.txt)"
    rm -rf "$venv"
    "${BENCH_PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
    cp bench/requirements.txt "$venv/.requirements.txt"
  fi
}

bin=target/release/clerk-graphql
build_release() { # [more cargo arguments, e.g. another package's binary]
  if [ "$build" = 1 ]; then
    log "cargo build --release --bin clerk-graphql $*"
    cargo build --release --bin clerk-graphql "$@"
  fi
  [ -x "$bin" ] || die "$bin is missing (run without --no-build)"
}

# ---- clean-up, also on Ctrl-C --------------------------------------------------------------------
server_pid='' clerk_pid='' wrk_pid='' helper_pid=''
# Every server started (scripts/soak --replicas starts several).
server_pids=()
stop_pid() { # pid [seconds]: SIGTERM, then SIGKILL after 5 s (or the given seconds)
  local pid=$1 patience=${2:-5}
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq $((patience * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  for pid in "$wrk_pid" "$helper_pid" "${server_pids[@]}" "$clerk_pid"; do
    [ -n "$pid" ] && stop_pid "$pid"
  done
  # The sourcing script's own clean-up (a database, a worktree), once its servers are stopped.
  if declare -F on_cleanup >/dev/null; then on_cleanup; fi
  if [ "$keep" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
# A temporary directory (database, keys, tokens, logs), removed on exit unless --keep.
make_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/clerk-graphql-$1.XXXXXX")
  trap cleanup EXIT
  trap 'log "$script_name: interrupted"; exit 130' INT TERM
}

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The fake Clerk Backend API of bench/bench.py on $client_cpu; sets clerk_url.
start_fake_clerk() {
  # Not through a function: $! must be the fake Clerk's own pid (taskset execs python).
  taskset -c "$client_cpu" "$venv/bin/python" bench/bench.py fake-clerk --port-file "$tmp/clerk.port" \
    --secret sk_test_bench >"$tmp/fake-clerk.log" 2>&1 &
  clerk_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/clerk.port" ] && break; sleep 0.1; done
  [ -s "$tmp/clerk.port" ] || { cat "$tmp/fake-clerk.log" >&2; die "the fake Clerk did not start"; }
  clerk_url="http://127.0.0.1:$(cat "$tmp/clerk.port")"
}
clerk_calls() { curl -fsS "$clerk_url/_stats" | sed -n 's/.*"users_calls": *\([0-9]*\).*/\1/p'; }

# Starts the server pinned to $server_cpu in production configuration with the key pair in $tmp
# and the fake Clerk, from a clean environment (no inherited CLERK_* variables) and in $tmp (no
# .env of the checkout is read), under the command in server_wrapper if any (e.g. valgrind), from
# the binary in server_bin (the release build unless set, e.g. another commit's). Metrics stay on,
# as in production, each server on a free port of its own (BENCH_SERVER_ENV=METRICS_ADDR=off
# measures without them). Sets server_pid and server_url (and adds the pid to server_pids).
server_wrapper=()
server_bin=''
start_server() { # log file, then NAME=value … (the caller's settings, which win)
  local logfile=$1 port metrics_port
  shift
  port=$(free_port)
  metrics_port=$(free_port)
  (
    cd "$tmp"
    exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
      APP_ENV=production DEV_MODE=false HOST=127.0.0.1 PORT="$port" \
      CLERK_JWT_KEY="$(cat "$tmp/public.pem")" CLERK_ISSUER=https://bench.clerk.local \
      CLERK_SECRET_KEY=sk_test_bench CLERK_API_URL="$clerk_url" LOG_FORMAT=json \
      METRICS_ADDR="127.0.0.1:$metrics_port" "$@" \
      taskset -c "$server_cpu" "${server_wrapper[@]}" "$ROOT/${server_bin:-$bin}" serve
  ) >"$logfile" 2>&1 &
  await_server "$!" "$port" "$logfile"
}
# Records a server just started in the background and waits until its /healthz answers.
await_server() { # pid, port, log file
  server_pid=$1
  server_pids+=("$server_pid")
  server_url="http://127.0.0.1:$2"
  local logfile=$3
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$server_url/healthz" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$logfile" >&2
  die "the server did not start (log above)"
}
stop_server() { # [seconds of patience before SIGKILL]
  stop_pid "$server_pid" "${1:-5}"
  forget_server "$server_pid"
  server_pid=''
}
# Stops every server started.
stop_servers() {
  local pid
  for pid in "${server_pids[@]}"; do
    stop_pid "$pid"
  done
  server_pids=()
  server_pid=''
}
# Leaves a stopped server out of server_pids, so that clean-up never signals a reused pid.
forget_server() { # pid
  local pid kept=()
  for pid in "${server_pids[@]}"; do
    [ "$pid" = "$1" ] || kept+=("$pid")
  done
  server_pids=("${kept[@]}")
}

# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
clk_tck=$(getconf CLK_TCK)
