# tests/helper.bash: what every chapter's suite shares. Load it with
#
#	load helper
#
# Servers: `spawn NAME CMD...` starts CMD in the background, itself (so $! is
# its pid), with fd 3 closed (bats reads fd 3; a child holding it open would
# stall the run), stdout and stderr in $BATS_TEST_TMPDIR/NAME.log. If CMD is a
# server it must print `listening on 127.0.0.1:PORT`; spawn waits for that
# line with a deadline and sets NAME_PID and NAME_PORT. The default teardown
# stops every spawned process by its own pid and checks how it ended.

bats_require_minimum_version 1.5.0

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
COMMON=$TOP/common
# Every test has a deadline; a suite may lower or raise it.
: "${BATS_TEST_TIMEOUT:=60}"
export BATS_TEST_TIMEOUT

# Sanitizer builds (make check) must fail loudly, not limp on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66}

SPAWNED=()

# diag TEXT...: a diagnostic line in bats' output (shown even on success).
diag() {
	printf '# %s\n' "$*" >&3
}

# spawn NAME CMD [ARGS...]: start a server and wait for its listening line.
spawn() {
	local name=$1 log
	shift
	log=$BATS_TEST_TMPDIR/$name.log
	"$@" >"$log" 2>&1 3>&- &
	local pid=$!
	printf -v "${name}_PID" '%s' "$pid"
	SPAWNED+=("$name")
	local line deadline=$((SECONDS + 10))
	while :; do
		line=$(grep -m1 -o 'listening on 127\.0\.0\.1:[0-9]*' "$log" || true)
		if [ -n "$line" ]; then
			printf -v "${name}_PORT" '%s' "${line##*:}"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "spawn: $name (pid $pid) died before listening; its log:"
			cat "$log"
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "spawn: $name (pid $pid) printed no listening line in 10 s; its log:"
			cat "$log"
			return 1
		fi
		sleep 0.01
	done
}

# server_start CMD [ARGS...]: spawn SERVER; sets SERVER_PID and SERVER_PORT.
server_start() {
	spawn SERVER "$@"
}

# log_of NAME: the path of a spawned process's log.
log_of() {
	echo "$BATS_TEST_TMPDIR/$1.log"
}

# stop NAME [STATUS]: SIGTERM, wait up to 10 s (then SIGKILL), and check the
# exit status: by default 143 (killed by SIGTERM, for chapters with no
# handler); servers that exit cleanly on SIGTERM expect 0.
stop() {
	local name=$1 want=${2:-${STOP_STATUS:-143}} pid status
	pid=${name}_PID
	pid=${!pid}
	[ -n "$pid" ] || return 0
	printf -v "${name}_PID" '%s' ""
	# It may have exited already (a test that stopped it another way).
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 10))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.01
		# A zombie is done: wait reaps it below.
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
	done
	if kill -0 "$pid" 2>/dev/null &&
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
		kill -KILL "$pid" 2>/dev/null
		echo "stop: $name (pid $pid) ignored SIGTERM for 10 s; killed"
	fi
	status=0
	wait "$pid" || status=$?
	if [ "$status" -ne "$want" ]; then
		echo "stop: $name exited with status $status, expected $want; its log:"
		cat "$(log_of "$name")"
		return 1
	fi
}

# stop_all: stop everything spawned in this test, newest first.
stop_all() {
	local i rc=0
	for ((i = ${#SPAWNED[@]} - 1; i >= 0; i--)); do
		stop "${SPAWNED[i]}" || rc=1
	done
	SPAWNED=()
	return $rc
}

teardown() {
	# A traced server is signalled itself (see spawn_traced).
	[ -z "${TRACEE_PID:-}" ] || kill -TERM "$TRACEE_PID" 2>/dev/null
	stop_all
}

# connect_raw VAR: open a TCP connection to the server (SERVER_PORT) with
# bash's /dev/tcp and store its descriptor number in VAR. Nothing is sent.
connect_raw() {
	local _fd
	exec {_fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT" || return 1
	printf -v "$1" '%s' "$_fd"
}

# fds_are N: the server (SERVER_PID) holds exactly N descriptors. A
# predicate for wait_for, which re-runs it: `wait_for 10 fds_are 5`.
fds_are() {
	[ "$(fd_count "$SERVER_PID")" -eq "$1" ]
}

# spawn_traced TRACE STRACE-OPTION... -- SERVER-COMMAND...: spawn SERVER
# under `strace -o TRACE`. strace -o does not pass SIGTERM on to its tracee,
# so the server itself is signalled at the end: a shell writes its pid, then
# becomes the server. Sets SERVER_PID (strace's), SERVER_PORT, TRACEE_PID,
# and TRACEE_FDS (the server's descriptors before any client).
spawn_traced() {
	local trace=$1 pidfile=$BATS_TEST_TMPDIR/tracee.pid opts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	traced spawn SERVER strace -o "$trace" "${opts[@]}" \
		sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" "$@"
	TRACEE_PID=$(<"$pidfile")
	TRACEE_FDS=$(fd_count "$TRACEE_PID")
}

# tracee_idle: the traced server has closed every connection.
tracee_idle() {
	[ "$(fd_count "$TRACEE_PID")" -le "$TRACEE_FDS" ]
}

# stop_traced [STATUS]: once the traced server has closed every connection
# (a client may finish before the server's last calls), SIGTERM it; strace
# ends with it, with the server's status (default 143).
stop_traced() {
	wait_for 10 tracee_idle || return 1
	kill -TERM "$TRACEE_PID"
	TRACEE_PID=
	stop SERVER "$@"
}

# wait_for DEADLINE_S CMD...: run CMD every 10 ms until it succeeds; fail
# after DEADLINE_S seconds. A readiness check with a deadline, never a sleep.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "wait_for: gave up on: $*"
			return 1
		fi
		sleep 0.01
	done
}

# logged PATTERN: how many lines of the server's log match the ERE.
logged() {
	grep -cE "$1" "$(log_of SERVER)" || true
}

# log_has LINE: the server's log has this exact line. (A client may see
# the answer before the server has logged it: wait_for log_has ...)
log_has() {
	grep -qxF -- "$1" "$(log_of SERVER)"
}

# turns: how many loop turns with events the server has logged (the
# "requests in flight: N" lines of chapters 05 on).
turns() {
	logged '^requests in flight: '
}

# big FILE MB: a file of MB megabytes of random bytes.
big() {
	head -c "$2M" /dev/urandom >"$1"
}

# elapsed_since START: seconds (with decimals) since $EPOCHREALTIME was START.
elapsed_since() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}

# seconds_between X LOW HIGH: LOW <= X < HIGH, or say why not.
seconds_between() {
	if ! awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x < hi) }'; then
		echo "took $1 s; expected at least $2 s and less than $3 s"
		return 1
	fi
}

# fd_count PID: how many descriptors the process has open.
fd_count() {
	[ -d "/proc/$1/fd" ] || return 1
	ls "/proc/$1/fd" | wc -l
}

# cpu_ticks PID: user+system CPU time consumed so far, in clock ticks.
cpu_ticks() {
	# Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends
	# the command name (which may itself contain spaces).
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) }
	awk '{ print $12 + $13 }' <<<"$stat"
}

# assert_idle PID: the process uses (almost) no CPU over the next 2 s.
assert_idle() {
	local before after
	before=$(cpu_ticks "$1")
	sleep 2
	after=$(cpu_ticks "$1")
	if [ $((after - before)) -gt 10 ]; then
		echo "assert_idle: pid $1 used $((after - before)) ticks in 2 s"
		return 1
	fi
}

# need_strace: skip the test unless strace exists and may trace here.
need_strace() {
	command -v strace >/dev/null 2>&1 || skip "strace is not installed"
	strace -f -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace refused)"
}

# traced CMD...: run CMD under a sanitizer-friendly environment for strace
# (LeakSanitizer cannot run under ptrace, so it is switched off).
traced() {
	ASAN_OPTIONS=${ASAN_OPTIONS/detect_leaks=1/detect_leaks=0} "$@"
}

# http URL [CURL ARGS...]: curl with a deadline; prints the body.
http() {
	local url=$1
	shift
	curl -sS --max-time 10 "$@" "$url"
}
